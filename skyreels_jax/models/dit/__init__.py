"""The SkyReels-V2 DiT (Wan2.1): model, blocks, input checks, key map, folder layouts and loader."""
from skyreels_jax.models.dit.loader import DiTCheckpoint, load_transformer, open_source
from skyreels_jax.models.dit.model import DiT, DiTConfig, fps_index

__all__ = ["DiT", "DiTCheckpoint", "DiTConfig", "fps_index", "load_transformer", "open_source"]
