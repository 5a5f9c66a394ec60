"""Distribution matching distillation of the tiny random DiT into a 4-step student (a test of the machinery).

    skyreels-jax train --config configs/train/tiny_distill.py
"""
from skyreels_jax.training.defaults import base_config


def get_config():
    cfg = base_config("dmd", "outputs/train/tiny_distill")
    cfg.total_steps = 20
    cfg.noise.non_decreasing = True
    cfg.noise.sync_prob = 0.5
    cfg.noise.max_prefix = 1
    cfg.data.synthetic.frames = 4
    cfg.distill.critic_steps = 2
    cfg.optim.lr = 1e-3
    return cfg
