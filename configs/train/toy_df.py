"""Diffusion-forcing training of the toy DiT on precomputed toy-world latents.

    python -m skyreels_jax.toy.build        # renders, trains the VAE, encodes, then runs this config
    skyreels-jax train --config configs/train/toy_df.py --set data.dir=outputs/toy/latents/latent_text_pairs/1.0.0

Latents are [5, 8, 8, 8] (17 frames of 32x32 through the toy VAE, 4x spatially); contexts are the tiny UMT5's
[tokens, 32], padded to 16 as at inference (the toy tokenizer's model_max_length).
"""
from skyreels_jax.training.defaults import base_config

# the published patch (1, 2, 2): 16 tokens per 8x8 latent frame. (An earlier 8x VAE gave a 4x4 latent, 4
# tokens at this patch, and the model barely learned colour or motion.)
TOY_DIT = dict(dim=128, ffn_dim=256, num_heads=4, num_layers=4, in_dim=8, out_dim=8, text_dim=32, patch_size=(1, 2, 2))


def get_config():
    cfg = base_config("diffusion_forcing", "outputs/toy/dit")
    cfg.model.dit = dict(TOY_DIT)
    cfg.data.synthetic = None
    cfg.data.batch_size = 16
    cfg.data.text_len = 16              # skyreels_jax.toy.text.TEXT_LEN (the toy tokenizer's model_max_length)
    cfg.total_steps = 8000
    cfg.log_every = 250
    cfg.noise.shift = 3.0               # as the sampler's flow_shift: colour and direction are decided at high noise
    cfg.noise.non_decreasing = True
    cfg.noise.sync_prob = 0.5             # half the batches as plain T2V (what a single window samples)
    cfg.noise.max_prefix = 3
    cfg.optim.lr = 1e-3
    cfg.optim.warmup_steps = 200
    cfg.optim.end_lr_ratio = 0.05
    cfg.optim.ema_decay = 0.998
    cfg.checkpoint.every = 1000
    return cfg
