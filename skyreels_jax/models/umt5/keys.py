"""UMT5 encoder: our parameters <- the original Wan .pth or transformers' UMT5EncoderModel keys.

Our names follow Wan's T5Encoder. transformers ties `encoder.embed_tokens.weight` to
`shared.weight`; a file may hold either or both (the same tensor).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from skyreels_jax.models.umt5.model import UMT5Config

Plan = list[tuple[str, Callable[[np.ndarray], np.ndarray]]]

# our block module -> (original, diffusers) name inside block i
_BLOCK = {
    "norm1": ("norm1", "layer.0.layer_norm"),
    "attn.q": ("attn.q", "layer.0.SelfAttention.q"),
    "attn.k": ("attn.k", "layer.0.SelfAttention.k"),
    "attn.v": ("attn.v", "layer.0.SelfAttention.v"),
    "attn.o": ("attn.o", "layer.0.SelfAttention.o"),
    "pos_embedding": ("pos_embedding.embedding", "layer.0.SelfAttention.relative_attention_bias"),
    "norm2": ("norm2", "layer.1.layer_norm"),
    "ffn.gate": ("ffn.gate.0", "layer.1.DenseReluDense.wi_0"),
    "ffn.fc1": ("ffn.fc1", "layer.1.DenseReluDense.wi_1"),
    "ffn.fc2": ("ffn.fc2", "layer.1.DenseReluDense.wo"),
}
_EMBEDDINGS = ("shared.weight", "encoder.embed_tokens.weight")


def _same(w):
    return w


def _transpose(w):
    return w.T


def plan(path: tuple[str, ...], layout: str, num_layers: int, present: set[str]) -> Plan:
    """(key, to_ours) per layer (one entry outside the stacked blocks) for one of our parameters."""
    col = ("original", "diffusers").index(layout)
    convert = _transpose if path[-1] == "kernel" else _same
    if path == ("token_embedding",):
        key = "token_embedding.weight" if col == 0 else next((k for k in _EMBEDDINGS if k in present), _EMBEDDINGS[0])
        return [(key, _same)]
    if path == ("norm", "scale"):
        return [(("norm.weight", "encoder.final_layer_norm.weight")[col], _same)]
    module = ".".join(path[1:] if path[-1] == "pos_embedding" else path[1:-1])
    prefix = ("blocks", "encoder.block")[col]
    return [(f"{prefix}.{i}.{_BLOCK[module][col]}.weight", convert) for i in range(num_layers)]


def ignored(key: str, layout: str) -> bool:
    """Keys a published file may carry that the encoder does not use (the tied embedding copy)."""
    return layout == "diffusers" and key in _EMBEDDINGS


def config_from_original(source, **overrides) -> UMT5Config:
    """Wan's .pth has no config: the shapes give it (the rest is umt5-xxl's)."""
    layers = {int(k.split(".")[1]) for k in source.keys() if k.startswith("blocks.")}
    buckets, heads = source.shape("blocks.0.pos_embedding.embedding.weight")
    vocab, dim = source.shape("token_embedding.weight")
    inner = source.shape("blocks.0.attn.q.weight")[0]
    return UMT5Config(vocab_size=vocab, dim=dim, num_heads=heads, head_dim=inner // heads,
                      ffn_dim=source.shape("blocks.0.ffn.fc1.weight")[0], num_layers=len(layers),
                      num_buckets=buckets, **overrides)


def config_from_transformers(cfg: dict, **overrides) -> UMT5Config:
    """transformers' UMT5Config (config.json) to ours."""
    if cfg.get("model_type") != "umt5":
        raise ValueError(f"model_type is {cfg.get('model_type')!r}; only UMT5 (per-layer position bias) is supported")
    proj = cfg.get("feed_forward_proj", "gated-gelu")
    if not proj.startswith("gated-"):
        raise ValueError(f"feed_forward_proj {proj!r} is not gated; the UMT5 encoders here are gated-gelu")
    # as transformers derives it: the legacy "gated-gelu" means the tanh GELU
    act = "gelu_new" if proj == "gated-gelu" else proj.split("-", 1)[1]
    act = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}.get(act, act)
    return UMT5Config(vocab_size=cfg["vocab_size"], dim=cfg["d_model"], num_heads=cfg["num_heads"],
                      head_dim=cfg["d_kv"], ffn_dim=cfg["d_ff"], num_layers=cfg["num_layers"],
                      num_buckets=cfg.get("relative_attention_num_buckets", 32),
                      max_distance=cfg.get("relative_attention_max_distance", 128),
                      eps=cfg.get("layer_norm_epsilon", 1e-6), act=act, **overrides)
