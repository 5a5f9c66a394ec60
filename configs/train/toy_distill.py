"""Distribution matching distillation of the toy DiT into a 4-step student without CFG.

    python -m skyreels_jax.toy.distill      # makes the data, runs this config, writes and measures the student

Starts from the shipped toy DiT (init_checkpoint, set by the command): generator, critic and frozen
teacher. The teacher is guided at the toy's guidance scale with the negative prompt's context
(distill.uncond_context, written by the command).
"""
from skyreels_jax.training.defaults import base_config


def get_config():
    cfg = base_config("dmd", "outputs/toy_distill/dit")
    cfg.init_checkpoint = "skyreels_jax/assets/toy/transformer"
    cfg.data.synthetic = None
    cfg.data.batch_size = 8
    cfg.data.text_len = 16                # the toy tokenizer's model_max_length
    cfg.total_steps = 1000
    cfg.log_every = 20
    cfg.noise.shift = 3.0                 # as the toy DiT's training and sampling
    cfg.noise.non_decreasing = True       # diffusion forcing, as configs/train/toy_df.py
    cfg.noise.sync_prob = 0.5
    cfg.noise.max_prefix = 3
    cfg.distill.num_steps = 4
    cfg.distill.shift = 3.0
    cfg.distill.guidance_scale = 3.0
    cfg.distill.critic_steps = 4
    cfg.optim.lr = 2e-4
    cfg.optim.warmup_steps = 20
    cfg.optim.end_lr_ratio = 0.1
    cfg.optim.ema_decay = 0.99
    cfg.checkpoint.every = 50
    return cfg
