"""The CLIP vision encoder: model, image checks and preprocessing (ImageEncoder), key map and loader."""
from skyreels_jax.models.clip.encoder import ImageEncoder, Preprocess
from skyreels_jax.models.clip.loader import load_image_encoder, open_source
from skyreels_jax.models.clip.model import CLIPVision, CLIPVisionConfig

__all__ = ["CLIPVision", "CLIPVisionConfig", "ImageEncoder", "Preprocess", "load_image_encoder", "open_source"]
