"""Flow-DPO of the toy DiT on pairs of its own samples, the one that follows its caption
better chosen.

    python -m skyreels_jax.toy.dpo         # builds the pairs from the shipped model, runs this config, measures

Starts from the shipped toy DiT (init_checkpoint, set by the command), whose folder gives the
architecture; the reference model is that same DiT, frozen.
"""
from skyreels_jax.training.defaults import base_config


def get_config():
    cfg = base_config("dpo", "outputs/toy_dpo/dit")
    cfg.init_checkpoint = "skyreels_jax/assets/toy/transformer"
    cfg.data.synthetic = None
    cfg.data.batch_size = 16
    cfg.data.text_len = 16
    cfg.total_steps = 300
    cfg.log_every = 50
    cfg.dpo.beta = 500.0
    cfg.noise.shift = 3.0                 # as the toy DiT's training (configs/train/toy_df.py)
    cfg.optim.lr = 5e-5
    cfg.optim.warmup_steps = 20
    cfg.optim.end_lr_ratio = 0.1
    cfg.checkpoint.every = 100
    return cfg
