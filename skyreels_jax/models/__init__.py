"""Networks, one file each. Nothing here knows about pipelines or checkpoint layouts."""
from skyreels_jax.models.dit import DiT, DiTConfig

__all__ = ["DiT", "DiTConfig"]
