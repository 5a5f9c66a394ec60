"""PyTorch checkpoints (original SkyReels-V2 and diffusers layouts) to Flax models."""
from skyreels_jax.checkpoints.dit_loader import CheckpointError, DiTCheckpoint, load_transformer

__all__ = ["CheckpointError", "DiTCheckpoint", "load_transformer"]
