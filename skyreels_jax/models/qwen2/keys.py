"""Qwen2 / Qwen2.5: our parameters <- transformers' Qwen2ForCausalLM keys, and its config.json."""
from __future__ import annotations

from typing import Callable

import numpy as np

from skyreels_jax.models.qwen2.model import Qwen2Config

Plan = list[tuple[str, Callable[[np.ndarray], np.ndarray]]]

# our block module -> transformers' module inside model.layers.{i}
_BLOCK = {
    "norm1": "input_layernorm",
    "attn.q": "self_attn.q_proj",
    "attn.k": "self_attn.k_proj",
    "attn.v": "self_attn.v_proj",
    "attn.o": "self_attn.o_proj",
    "norm2": "post_attention_layernorm",
    "mlp.gate": "mlp.gate_proj",
    "mlp.up": "mlp.up_proj",
    "mlp.down": "mlp.down_proj",
}
_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias"}
LM_HEAD = "lm_head.weight"


def _same(w):
    return w


def _transpose(w):
    return w.T


def plan(path: tuple[str, ...], num_layers: int) -> Plan:
    """(key, to_ours) per layer (one entry outside the stacked blocks) for one of our parameters."""
    convert = _transpose if path[-1] == "kernel" else _same
    if path == ("embed",):
        return [("model.embed_tokens.weight", _same)]
    if path == ("norm", "scale"):
        return [("model.norm.weight", _same)]
    if path == ("lm_head", "kernel"):
        return [(LM_HEAD, _transpose)]
    name = f"{_BLOCK['.'.join(path[1:-1])]}.{_LEAF[path[-1]]}"
    return [(f"model.layers.{i}.{name}", convert) for i in range(num_layers)]


def ignored(key: str, config: Qwen2Config) -> bool:
    """Keys a published folder may carry that the model does not use: a tied lm_head's copy,
    and the rotary inv_freq buffers some older exports saved."""
    return (config.tie_embeddings and key == LM_HEAD) or key.endswith("rotary_emb.inv_freq")


def config_from_transformers(cfg: dict, **overrides) -> Qwen2Config:
    """transformers' Qwen2Config (config.json, 4.x or 5.x spelling) to ours; refuses what is not supported."""
    if cfg.get("model_type") != "qwen2":
        raise ValueError(f"model_type is {cfg.get('model_type')!r}; the prompt enhancer needs a Qwen2/Qwen2.5 "
                         "causal LM (model_type 'qwen2', e.g. Qwen/Qwen2.5-32B-Instruct)")
    rope = dict(cfg.get("rope_parameters") or cfg.get("rope_scaling") or {})
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise NotImplementedError(f"rope scaling {rope_type!r} is not supported (only the default RoPE, which "
                                  "every Qwen2.5 config.json uses up to 32k tokens)")
    if cfg.get("use_sliding_window"):
        raise NotImplementedError("use_sliding_window=true is not supported (Qwen2.5 configs set it false)")
    if cfg.get("hidden_act", "silu") != "silu":
        raise NotImplementedError(f"hidden_act {cfg['hidden_act']!r} is not supported; Qwen2 uses silu")
    heads = cfg["num_attention_heads"]
    return Qwen2Config(vocab_size=cfg["vocab_size"], dim=cfg["hidden_size"], ffn_dim=cfg["intermediate_size"],
                       num_layers=cfg["num_hidden_layers"], num_heads=heads,
                       num_kv_heads=cfg.get("num_key_value_heads") or heads,
                       head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads,
                       rope_theta=float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0))),
                       eps=cfg.get("rms_norm_eps", 1e-6), tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
                       max_position=cfg.get("max_position_embeddings", 32768), **overrides)
