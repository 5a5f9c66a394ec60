"""Networks, one file each. Nothing here knows about pipelines or checkpoint layouts."""
from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.models.vae import VAEConfig, WanVAE

__all__ = ["DiT", "DiTConfig", "VAEConfig", "WanVAE"]
