"""Generic checkpoint machinery: safetensors/.pth readers, streaming fill onto shards, the Orbax format,
the cache of converted models and the converted-folder manifest. Each network's key map and loader
live in its own folder under skyreels_jax.models."""
from skyreels_jax.checkpoints.fill import CheckpointError

__all__ = ["CheckpointError"]
