"""PyTorch checkpoints (original SkyReels-V2 and diffusers layouts) to Flax models."""
from skyreels_jax.checkpoints.dit_loader import DiTCheckpoint, load_transformer
from skyreels_jax.checkpoints.encoders_loader import load_image_encoder, load_text_encoder
from skyreels_jax.checkpoints.fill import CheckpointError
from skyreels_jax.checkpoints.vae_loader import load_vae

__all__ = ["CheckpointError", "DiTCheckpoint", "load_image_encoder", "load_text_encoder", "load_transformer",
           "load_vae"]
