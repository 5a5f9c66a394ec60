"""Flow-DPO of the tiny DiT on synthetic preference pairs (clean vs corrupted video).

    skyreels-jax train --config configs/train/tiny_dpo.py
"""
from skyreels_jax.training.defaults import base_config


def get_config():
    cfg = base_config("dpo", "outputs/train/tiny_dpo")
    cfg.optim.lr = 1e-3
    cfg.dpo.beta = 500.0
    cfg.dpo.ref_refresh_every = 100
    return cfg
