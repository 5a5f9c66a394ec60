"""Qwen2.5-VL: our parameters <- transformers' Qwen2_5_VLForConditionalGeneration keys, and its config.json.

Two key layouts exist: transformers 4.x checkpoints (SkyCaptioner-V1, Qwen2.5-VL-7B-Instruct) name
`visual.*` and `model.*`; transformers >= 4.52 saves `model.visual.*` and `model.language_model.*`.
config.json likewise has the text fields at the top (4.x) or under `text_config` (5.x).
"""
from __future__ import annotations

import numpy as np

from skyreels_jax.models.qwen2 import keys as qwen2_keys
from skyreels_jax.models.qwen2_5_vl.model import Qwen2_5_VLConfig
from skyreels_jax.models.qwen2_5_vl.vision import VisionConfig

Plan = qwen2_keys.Plan
_VISION_BLOCK = {"norm1": "norm1", "qkv": "attn.qkv", "proj": "attn.proj", "norm2": "norm2",
                 "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
_MERGER = {"merger_norm": "merger.ln_q", "merger_fc1": "merger.mlp.0", "merger_fc2": "merger.mlp.2"}
_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias"}


def prefixes(present: set[str]) -> tuple[str, str]:
    """(vision prefix, language-model prefix replacing `model.`) of the checkpoint's layout."""
    if any(k.startswith("model.visual.") for k in present):
        return "model.visual.", "model.language_model."
    return "visual.", "model."


def _patch_kernel(w: np.ndarray) -> np.ndarray:
    return w.reshape(w.shape[0], -1).T  # Conv3d [D, C, T, P, P] -> [C·T·P·P, D]


def lm_plan(path: tuple[str, ...], present: set[str], config: Qwen2_5_VLConfig) -> Plan:
    """The Qwen2 decoder's keys, under the layout's language-model prefix."""
    lm = prefixes(present)[1]
    return [(k.replace("model.", lm, 1) if k.startswith("model.") else k, f)
            for k, f in qwen2_keys.plan(path, config.text.num_layers)]


def vision_plan(path: tuple[str, ...], present: set[str], config: Qwen2_5_VLConfig) -> Plan:
    vis = prefixes(present)[0]
    part, leaf = path[0], path[-1]
    convert = (lambda w: w.T) if leaf == "kernel" else (lambda w: w)
    if part == "patch_embed":
        return [(f"{vis}patch_embed.proj.weight", _patch_kernel)]
    if part in _MERGER:
        return [(f"{vis}{_MERGER[part]}.{_LEAF[leaf]}", convert)]
    name = f"{_VISION_BLOCK[path[1]]}.{_LEAF[leaf]}"
    return [(f"{vis}blocks.{i}.{name}", convert) for i in range(config.vision.depth)]


def is_vision(key: str) -> bool:
    return key.startswith(("visual.", "model.visual."))


def config_from_transformers(cfg: dict, dtype: str = "float32", param_dtype: str = "float32",
                             **text_overrides) -> Qwen2_5_VLConfig:
    """transformers' Qwen2_5_VLConfig (config.json, 4.x or 5.x spelling) to ours."""
    if cfg.get("model_type") != "qwen2_5_vl":
        raise ValueError(f"model_type is {cfg.get('model_type')!r}; the captioner needs a Qwen2.5-VL folder "
                         "(model_type 'qwen2_5_vl', e.g. Skywork/SkyCaptioner-V1)")
    text = {**{k: v for k, v in cfg.items() if k not in ("text_config", "vision_config")}, **cfg.get("text_config", {})}
    rope = dict(text.get("rope_parameters") or text.get("rope_scaling") or {})
    if rope.get("rope_type", rope.get("type")) in ("mrope", "default", None):
        text.pop("rope_scaling", None)
        theta = rope.get("rope_theta", text.get("rope_theta", 1e6))
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": theta}
    text["model_type"] = "qwen2"
    text_cfg = qwen2_keys.config_from_transformers(text, dtype=dtype, param_dtype=param_dtype, **text_overrides)
    v = cfg["vision_config"]
    if v.get("hidden_act", "silu") != "silu":
        raise NotImplementedError(f"vision hidden_act {v['hidden_act']!r} is not supported; Qwen2.5-VL uses silu")
    vision = VisionConfig(depth=v["depth"], dim=v["hidden_size"], ffn_dim=v["intermediate_size"],
                          num_heads=v["num_heads"], out_dim=v.get("out_hidden_size", text_cfg.dim),
                          patch_size=v.get("patch_size", 14),
                          temporal_patch_size=v.get("temporal_patch_size", 2),
                          merge_size=v.get("spatial_merge_size", 2), window_size=v.get("window_size", 112),
                          fullatt_blocks=tuple(v.get("fullatt_block_indexes", ())), in_channels=v.get("in_channels", 3),
                          tokens_per_second=float(v.get("tokens_per_second", 2)),
                          rope_theta=float((v.get("rope_parameters") or {}).get("rope_theta", 10000.0)),
                          dtype=dtype, param_dtype=param_dtype)
    return Qwen2_5_VLConfig(text=text_cfg, vision=vision, mrope_section=tuple(rope.get("mrope_section", (16, 24, 24))),
                            image_token_id=cfg.get("image_token_id", 151655),
                            video_token_id=cfg.get("video_token_id", 151656))
