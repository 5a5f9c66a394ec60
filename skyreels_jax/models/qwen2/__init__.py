"""Qwen2 / Qwen2.5 causal LMs (the prompt enhancer): model, generation with a KV cache, key map and loader."""
from skyreels_jax.models.qwen2.loader import load_qwen2
from skyreels_jax.models.qwen2.model import Qwen2, Qwen2Config

__all__ = ["Qwen2", "Qwen2Config", "load_qwen2"]
