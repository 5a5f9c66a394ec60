"""PyTorch checkpoints (original SkyReels-V2 and diffusers layouts) to Flax models."""
from skyreels_jax.checkpoints.dit_loader import CheckpointError, DiTCheckpoint, load_transformer
from skyreels_jax.checkpoints.encoders_loader import load_image_encoder, load_text_encoder

__all__ = ["CheckpointError", "DiTCheckpoint", "load_image_encoder", "load_text_encoder", "load_transformer"]
