"""CLIP vision tower: our parameters <- Wan's open-clip .pth or transformers' CLIPVision* keys.

The original .pth is Wan's own XLMRobertaCLIP state dict (`visual.transformer.{i}.attn.to_qkv`,
fused q/k/v; `visual.cls_embedding` [1, 1, D]); its text tower is ignored. In both layouts
the last block, the post-norm and the head/projection are ignored: the reference uses the
penultimate hidden states.
"""
from __future__ import annotations

import math

import numpy as np

from skyreels_jax.models.clip.model import CLIPVisionConfig

ORIGINAL_HEAD_DIM = 80  # open-clip ViT-H/14: 1280 wide, 16 heads; the .pth does not record the head count

# our block module -> (original, diffusers) name inside block i; q/k/v come from the fused to_qkv there
_BLOCK = {
    "norm1": ("norm1", "layer_norm1"),
    "o": ("attn.proj", "self_attn.out_proj"),
    "norm2": ("norm2", "layer_norm2"),
    "mlp.fc1": ("mlp.0", "mlp.fc1"),
    "mlp.fc2": ("mlp.2", "mlp.fc2"),
    "q": (None, "self_attn.q_proj"),
    "k": (None, "self_attn.k_proj"),
    "v": (None, "self_attn.v_proj"),
}
# our top-level parameter -> (original key, diffusers key, to_ours)
_TOP = {
    ("patch_embedding",): ("visual.patch_embedding.weight", "vision_model.embeddings.patch_embedding.weight",
                           lambda w: w.transpose(2, 3, 1, 0)),
    ("class_embedding",): ("visual.cls_embedding", "vision_model.embeddings.class_embedding",
                           lambda w: w.reshape(-1)),
    ("pos_embedding",): ("visual.pos_embedding", "vision_model.embeddings.position_embedding.weight",
                         lambda w: w.reshape(w.shape[-2:])),
    ("pre_norm", "scale"): ("visual.pre_norm.weight", "vision_model.pre_layrnorm.weight", lambda w: w),
    ("pre_norm", "bias"): ("visual.pre_norm.bias", "vision_model.pre_layrnorm.bias", lambda w: w),
}
_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias"}


def _qkv_part(index: int, leaf: str):
    def take(w):
        part = np.split(w, 3, axis=0)[index]
        return part.T if leaf == "kernel" else part
    return take


def plan(path: tuple[str, ...], layout: str, num_layers: int, present=None):
    """(key, to_ours) per block (one entry for top-level parameters) for one of our parameters."""
    col = ("original", "diffusers").index(layout)
    if path[0] != "blocks":
        original, diffusers, convert = _TOP[path]
        return [((original, diffusers)[col], convert)]
    module, leaf = ".".join(path[1:-1]), path[-1]
    if layout == "original" and module in ("q", "k", "v"):
        take = _qkv_part("qkv".index(module), leaf)
        return [(f"visual.transformer.{i}.attn.to_qkv.{_LEAF[leaf]}", take) for i in range(num_layers)]
    name = _BLOCK[module][col]
    convert = (lambda w: w.T) if leaf == "kernel" else (lambda w: w)
    prefix = ("visual.transformer", "vision_model.encoder.layers")[col]
    return [(f"{prefix}.{i}.{name}.{_LEAF[leaf]}", convert) for i in range(num_layers)]


def ignored(key: str, layout: str, num_layers: int) -> bool:
    """The checkpoint's parts the penultimate features do not use (see the module docstring)."""
    if layout == "original":
        return (not key.startswith("visual.") or key.startswith(("visual.post_norm.", "visual.head"))
                or key.startswith(f"visual.transformer.{num_layers}."))
    return (key.startswith(("vision_model.post_layernorm.", "visual_projection.", "text_model.", "text_projection."))
            or key in ("logit_scale", "vision_model.embeddings.position_ids")
            or key.startswith(f"vision_model.encoder.layers.{num_layers}."))


def config_from_original(source, num_heads: int | None = None, **overrides) -> CLIPVisionConfig:
    """From the .pth shapes (the rest is ViT-H/14's: exact GELU, eps 1e-5)."""
    layers = {int(k.split(".")[2]) for k in source.keys() if k.startswith("visual.transformer.")}
    tokens, dim = source.shape("visual.pos_embedding")[-2:]
    patch = source.shape("visual.patch_embedding.weight")[-1]
    if num_heads is None:
        if dim % ORIGINAL_HEAD_DIM:
            raise ValueError(f"width {dim} is not a multiple of open-clip ViT-H's head size {ORIGINAL_HEAD_DIM}: "
                             "pass num_heads= to load_image_encoder")
        num_heads = dim // ORIGINAL_HEAD_DIM
    return CLIPVisionConfig(image_size=math.isqrt(tokens - 1) * patch, patch_size=patch, dim=dim,
                            num_heads=num_heads, mlp_dim=source.shape("visual.transformer.0.mlp.0.weight")[0],
                            num_layers=len(layers) - 1, act="gelu", eps=1e-5, **overrides)


def config_from_transformers(cfg: dict, **overrides) -> CLIPVisionConfig:
    """transformers' CLIPVisionConfig (or a CLIPConfig's vision_config) to ours."""
    if cfg.get("model_type") == "clip":
        cfg = cfg["vision_config"]
    if cfg.get("model_type", "clip_vision_model") != "clip_vision_model":
        raise ValueError(f"model_type is {cfg.get('model_type')!r}; expected a CLIP vision model")
    act = cfg.get("hidden_act", "quick_gelu")
    act = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}.get(act, act)
    return CLIPVisionConfig(image_size=cfg.get("image_size", 224), patch_size=cfg.get("patch_size", 32),
                            dim=cfg.get("hidden_size", 768), num_heads=cfg.get("num_attention_heads", 12),
                            mlp_dim=cfg.get("intermediate_size", 3072),
                            num_layers=cfg.get("num_hidden_layers", 12) - 1, act=act,
                            eps=cfg.get("layer_norm_eps", 1e-5), **overrides)
