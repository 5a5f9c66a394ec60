"""The UMT5 text encoder: model, prompt cleaning and tokenising (TextEncoder), key map and loader."""
from skyreels_jax.models.umt5.encoder import TextEncoder, load_tokenizer
from skyreels_jax.models.umt5.loader import load_text_encoder, open_source
from skyreels_jax.models.umt5.model import UMT5Config, UMT5Encoder

__all__ = ["TextEncoder", "UMT5Config", "UMT5Encoder", "load_text_encoder", "load_tokenizer", "open_source"]
