"""Networks, one folder each: the module, its config, input checks, checkpoint key map(s) and loader.

Nothing here knows about pipelines.
"""
from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.models.vae import VAEConfig, WanVAE

__all__ = ["DiT", "DiTConfig", "VAEConfig", "WanVAE"]
