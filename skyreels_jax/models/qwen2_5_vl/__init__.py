"""Qwen2.5-VL (SkyCaptioner-V1): vision encoder, multimodal model, inputs, generation, key map and loader."""
from skyreels_jax.models.qwen2_5_vl.loader import load_qwen2_5_vl
from skyreels_jax.models.qwen2_5_vl.model import Qwen2_5_VL, Qwen2_5_VLConfig

__all__ = ["Qwen2_5_VL", "Qwen2_5_VLConfig", "load_qwen2_5_vl"]
