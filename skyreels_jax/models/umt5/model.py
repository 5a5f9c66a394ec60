"""The UMT5 encoder (Wan's `models_t5_umt5-xxl-enc-bf16.pth`, transformers' UMT5EncoderModel).

T5 v1.1 with a relative position bias in every layer (UMT5; plain T5 shares layer 0's):
RMSNorm without mean subtraction, attention without 1/√d scaling, gated-GELU FFN
fc1(x)·gelu(gate(x)). Padded keys are masked in every self-attention; the output is zeroed
past each prompt's true length, as both reference pipelines do. Parameter names follow Wan's
module names. Norms and softmax run in float32 whatever the compute dtype.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.nn import Linear, RMSNorm, attention
from skyreels_jax.nn.dtypes import DtypeConfig
from skyreels_jax.nn.stack import stacked

ACTIVATIONS = {
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "relu": jax.nn.relu,
}


@dataclasses.dataclass(frozen=True)
class UMT5Config(DtypeConfig):
    """Architecture and numerics. Defaults are umt5-xxl's encoder (5.7B parameters)."""

    vocab_size: int = 256384
    dim: int = 4096
    num_heads: int = 64
    head_dim: int = 64
    ffn_dim: int = 10240
    num_layers: int = 24
    num_buckets: int = 32
    max_distance: int = 128
    eps: float = 1e-6
    act: str = "gelu_tanh"      # the gate's activation: transformers' gelu_new / gelu_pytorch_tanh
    max_length: int = 512       # prompts are padded / truncated to this many tokens
    param_dtype: str = "float32"
    dtype: str = "float32"
    attention: str = "xla"

    def __post_init__(self):
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act {self.act!r} is not supported; use one of {sorted(ACTIVATIONS)}")

    @property
    def inner_dim(self) -> int:
        return self.num_heads * self.head_dim


def relative_buckets(length: int, num_buckets: int, max_distance: int) -> np.ndarray:
    """Bidirectional T5 bucket of (key − query) for every pair, [length, length] int32.

    Computed on the host in float32 like the references (torch float32 log, truncation), so
    the bucket edges fall where theirs do.
    """
    rel = np.arange(length)[None, :] - np.arange(length)[:, None]
    half = num_buckets // 2
    buckets = (rel > 0).astype(np.int64) * half
    rel = np.abs(rel)
    max_exact = half // 2
    far = np.maximum(rel, max_exact).astype(np.float32)  # only used where rel >= max_exact
    log_ratio = np.log(far / np.float32(max_exact)) / np.float32(np.log(max_distance / max_exact))
    large = max_exact + (log_ratio * np.float32(half - max_exact)).astype(np.int64)
    large = np.minimum(large, half - 1)
    return (buckets + np.where(rel < max_exact, rel, large)).astype(np.int32)


class Attention(nnx.Module):
    def __init__(self, cfg: UMT5Config, rngs: nnx.Rngs):
        kw = dict(use_bias=False, dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.num_heads, self.backend = cfg.num_heads, cfg.attention
        self.q = Linear(cfg.dim, cfg.inner_dim, axes=("embed", "heads"), **kw)
        self.k = Linear(cfg.dim, cfg.inner_dim, axes=("embed", "heads"), **kw)
        self.v = Linear(cfg.dim, cfg.inner_dim, axes=("embed", "heads"), **kw)
        self.o = Linear(cfg.inner_dim, cfg.dim, axes=("heads", "embed"), **kw)

    def __call__(self, x, bias, mask):
        def split(t):
            return t.reshape(*t.shape[:2], self.num_heads, -1)
        out = attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), bias=bias, k_mask=mask,
                        scale=1.0, backend=self.backend)
        return self.o(out.reshape(*x.shape[:2], -1), out_dtype=jnp.float32)


class FeedForward(nnx.Module):
    def __init__(self, cfg: UMT5Config, rngs: nnx.Rngs):
        kw = dict(use_bias=False, dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.act = ACTIVATIONS[cfg.act]
        self.gate = Linear(cfg.dim, cfg.ffn_dim, axes=("embed", "mlp"), **kw)
        self.fc1 = Linear(cfg.dim, cfg.ffn_dim, axes=("embed", "mlp"), **kw)
        self.fc2 = Linear(cfg.ffn_dim, cfg.dim, axes=("mlp", "embed"), **kw)

    def __call__(self, x):
        h = self.fc1(x, out_dtype=jnp.float32) * self.act(self.gate(x, out_dtype=jnp.float32))
        return self.fc2(h, out_dtype=jnp.float32)


class Block(nnx.Module):
    """Pre-norm self-attention with this layer's own relative position bias, then the FFN."""

    def __init__(self, cfg: UMT5Config, rngs: nnx.Rngs):
        self.norm1 = RMSNorm(cfg.dim, eps=cfg.eps, axis_name="embed", param_dtype=cfg.weight_dtype)
        self.attn = Attention(cfg, rngs)
        self.norm2 = RMSNorm(cfg.dim, eps=cfg.eps, axis_name="embed", param_dtype=cfg.weight_dtype)
        self.ffn = FeedForward(cfg, rngs)
        init = nnx.initializers.normal(1.0)
        self.pos_embedding = nnx.Param(init(rngs.params(), (cfg.num_buckets, cfg.num_heads), cfg.weight_dtype),
                                       logical_axes=(None, "heads"))

    def __call__(self, x, buckets, mask):
        dtype = x.dtype
        bias = jnp.take(self.pos_embedding[...].astype(jnp.float32), buckets, axis=0).transpose(2, 0, 1)
        x = (x.astype(jnp.float32) + self.attn(self.norm1(x).astype(dtype), bias, mask)).astype(dtype)
        return (x.astype(jnp.float32) + self.ffn(self.norm2(x).astype(dtype))).astype(dtype)


class UMT5Encoder(nnx.Module):
    """ids [B, L] int, mask [B, L] (1 = token) -> hidden states [B, L, dim], zero where mask is 0."""

    def __init__(self, config: UMT5Config, *, rngs: nnx.Rngs):
        cfg = self.config = config
        init = nnx.initializers.normal(1.0)
        self.token_embedding = nnx.Param(init(rngs.params(), (cfg.vocab_size, cfg.dim), cfg.weight_dtype),
                                         logical_axes=("vocab", "embed"))

        self.blocks = stacked(lambda r: Block(cfg, r), cfg.num_layers, rngs)
        self.norm = RMSNorm(cfg.dim, eps=cfg.eps, axis_name="embed", param_dtype=cfg.weight_dtype)

    def __call__(self, ids: jax.Array, mask: jax.Array) -> jax.Array:
        cfg = self.config
        mask = mask.astype(bool)
        x = jnp.take(self.token_embedding[...], ids, axis=0).astype(cfg.compute_dtype)
        buckets = jnp.asarray(relative_buckets(ids.shape[1], cfg.num_buckets, cfg.max_distance))
        graphdef, stacked = nnx.split(self.blocks)

        def one_block(x, layer_params):
            return nnx.merge(graphdef, layer_params)(x, buckets, mask), None

        x, _ = jax.lax.scan(one_block, x, stacked)
        return (self.norm(x) * mask[..., None]).astype(cfg.compute_dtype)
