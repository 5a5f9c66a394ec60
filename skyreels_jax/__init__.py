"""skyreels_jax: SkyReels-V2 video generation in JAX/Flax."""
from skyreels_jax.checkpoints import (CheckpointError, load_image_encoder, load_text_encoder, load_transformer,
                                      load_vae)
from skyreels_jax.models import DiT, DiTConfig, VAEConfig, WanVAE

__all__ = ["CheckpointError", "DiT", "DiTConfig", "VAEConfig", "WanVAE", "load_image_encoder", "load_text_encoder",
           "load_transformer", "load_vae"]
__version__ = "0.1.0"
