"""skyreels_jax: SkyReels-V2 video generation in JAX/Flax."""
from skyreels_jax.checkpoints import CheckpointError, load_image_encoder, load_text_encoder, load_transformer
from skyreels_jax.models import DiT, DiTConfig

__all__ = ["CheckpointError", "DiT", "DiTConfig", "load_image_encoder", "load_text_encoder", "load_transformer"]
__version__ = "0.1.0"
