"""The Wan2.1 VAE: model, blocks, input checks, spatial tiling, the split decode, key map and loader."""
from skyreels_jax.models.vae.loader import load_vae, open_source
from skyreels_jax.models.vae.model import PARTS, VAEConfig, WanVAE

__all__ = ["PARTS", "VAEConfig", "WanVAE", "load_vae", "open_source"]
