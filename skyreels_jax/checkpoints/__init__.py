"""PyTorch checkpoints (original SkyReels-V2 and diffusers layouts) to Flax models."""
from skyreels_jax.checkpoints.dit_loader import CheckpointError, load_transformer
from skyreels_jax.checkpoints.vae_loader import load_vae

__all__ = ["CheckpointError", "load_transformer", "load_vae"]
