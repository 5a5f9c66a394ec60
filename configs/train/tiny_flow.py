"""Flow-matching training of the tiny DiT on a synthetic latent dataset it builds itself.

    skyreels-jax train --config configs/train/tiny_flow.py
"""
from skyreels_jax.training.defaults import base_config


def get_config():
    cfg = base_config("flow", "outputs/train/tiny_flow")
    cfg.optim.ema_decay = 0.99
    return cfg
