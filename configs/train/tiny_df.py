"""Diffusion-forcing training of the tiny DiT (per-frame σ, non-decreasing, clean prefix).

    skyreels-jax train --config configs/train/tiny_df.py
"""
from skyreels_jax.training.defaults import base_config


def get_config():
    cfg = base_config("diffusion_forcing", "outputs/train/tiny_df")
    cfg.noise.non_decreasing = True
    cfg.noise.sync_prob = 0.1
    cfg.noise.max_prefix = 1
    cfg.data.synthetic.frames = 4
    return cfg
