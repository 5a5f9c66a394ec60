"""skyreels_jax: SkyReels-V2 video generation in JAX/Flax."""
from skyreels_jax.checkpoints import (CheckpointError, load_image_encoder, load_text_encoder, load_transformer,
                                      load_vae)
from skyreels_jax.enhancer import PromptEnhancer, load_prompt_enhancer
from skyreels_jax.models import DiT, DiTConfig, VAEConfig, WanVAE

__all__ = ["CheckpointError", "DiT", "DiTConfig", "PromptEnhancer", "VAEConfig", "WanVAE", "load_image_encoder",
           "load_prompt_enhancer", "load_text_encoder", "load_transformer", "load_vae"]
__version__ = "0.1.0"
