"""The Qwen2 / Qwen2.5 decoder language model (transformers' Qwen2ForCausalLM), with a KV cache.

Pre-norm blocks: RMSNorm, grouped-query attention (biases on q/k/v only, rotate-half RoPE with
rope_theta), RMSNorm, SwiGLU MLP down(silu(gate(x))·up(x)). The lm_head is its own matrix or the
token embedding (tie_embeddings). Norms, RoPE, softmax and logits run in float32 whatever the
compute dtype. Layers are scanned; the KV cache [layers, B, S, kv_heads, head_dim] rides in the
scan carry so each step writes only its new slots in place.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.nn import Linear, RMSNorm
from skyreels_jax.nn.dtypes import DtypeConfig
from skyreels_jax.nn.stack import stacked

Cache = tuple[jax.Array, jax.Array]  # (keys, values), each [layers, B, S, kv_heads, head_dim]


@dataclasses.dataclass(frozen=True)
class Qwen2Config(DtypeConfig):
    """Architecture and numerics. Defaults are Qwen2.5-32B-Instruct's (the reference's enhancer)."""

    vocab_size: int = 152064
    dim: int = 5120
    ffn_dim: int = 27648
    num_layers: int = 64
    num_heads: int = 40
    num_kv_heads: int = 8
    head_dim: int = 128
    rope_theta: float = 1e6
    eps: float = 1e-6
    tie_embeddings: bool = False
    max_position: int = 32768   # the context length: prompt plus generated tokens
    param_dtype: str = "float32"
    dtype: str = "float32"

    def __post_init__(self):
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")


def rope_tables(positions: jax.Array, head_dim: int, theta: float) -> tuple[jax.Array, jax.Array]:
    """cos, sin [B, L, head_dim] float32 for integer positions [B, L] (rotate-half layout)."""
    inv_freq = 1.0 / (np.float32(theta) ** (np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)))
    angles = positions.astype(jnp.float32)[..., None] * jnp.asarray(inv_freq, jnp.float32)
    angles = jnp.concatenate([angles, angles], axis=-1)
    return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """x [B, L, heads, head_dim] rotated by the tables: x·cos + rotate_half(x)·sin, in float32."""
    x32 = x.astype(jnp.float32)
    x1, x2 = jnp.split(x32, 2, axis=-1)
    rotated = jnp.concatenate([-x2, x1], axis=-1)
    return (x32 * cos[:, :, None] + rotated * sin[:, :, None]).astype(x.dtype)


class Attention(nnx.Module):
    def __init__(self, cfg: Qwen2Config, rngs: nnx.Rngs):
        kw = dict(dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q = Linear(cfg.dim, cfg.num_heads * cfg.head_dim, axes=("embed", "heads"), **kw)
        self.k = Linear(cfg.dim, cfg.num_kv_heads * cfg.head_dim, axes=("embed", "heads"), **kw)
        self.v = Linear(cfg.dim, cfg.num_kv_heads * cfg.head_dim, axes=("embed", "heads"), **kw)
        self.o = Linear(cfg.num_heads * cfg.head_dim, cfg.dim, axes=("heads", "embed"), use_bias=False, **kw)

    def project(self, x, cos, sin):
        """q [B, L, heads, d], k and v [B, L, kv_heads, d], RoPE applied to q and k."""
        b, length = x.shape[:2]
        q = self.q(x).reshape(b, length, self.num_heads, self.head_dim)
        k = self.k(x).reshape(b, length, self.num_kv_heads, self.head_dim)
        v = self.v(x).reshape(b, length, self.num_kv_heads, self.head_dim)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def output(self, q, keys, values, mask):
        """Grouped-query attention over keys/values [B, S, kv_heads, d]; mask [B, L, S] bool.

        jax.nn.dot_product_attention groups query heads over the kv heads without copying the
        cache, keeps softmax in float32, and masks with a large finite negative: a left-pad
        query that sees no key gets a finite (unused) output instead of NaN.
        """
        out = jax.nn.dot_product_attention(q, keys, values, mask=mask[:, None])
        return self.o(out.reshape(*q.shape[:2], -1), out_dtype=jnp.float32)


class MLP(nnx.Module):
    def __init__(self, cfg: Qwen2Config, rngs: nnx.Rngs):
        kw = dict(use_bias=False, dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.gate = Linear(cfg.dim, cfg.ffn_dim, axes=("embed", "mlp"), **kw)
        self.up = Linear(cfg.dim, cfg.ffn_dim, axes=("embed", "mlp"), **kw)
        self.down = Linear(cfg.ffn_dim, cfg.dim, axes=("mlp", "embed"), **kw)

    def __call__(self, x):
        h = jax.nn.silu(self.gate(x, out_dtype=jnp.float32)) * self.up(x, out_dtype=jnp.float32)
        return self.down(h, out_dtype=jnp.float32)


class Block(nnx.Module):
    def __init__(self, cfg: Qwen2Config, rngs: nnx.Rngs):
        norm = dict(eps=cfg.eps, axis_name="embed", param_dtype=cfg.weight_dtype)
        self.norm1 = RMSNorm(cfg.dim, **norm)
        self.attn = Attention(cfg, rngs)
        self.norm2 = RMSNorm(cfg.dim, **norm)
        self.mlp = MLP(cfg, rngs)

    def __call__(self, x, cos, sin, mask, cache: Cache | None, layer, start):
        """One layer. With a cache, this layer's new k/v go to slots start.. and attention reads all S slots."""
        dtype = x.dtype
        q, k, v = self.attn.project(self.norm1(x).astype(dtype), cos, sin)
        if cache is None:
            keys, values = k, v
        else:
            cache = tuple(jax.lax.dynamic_update_slice(c, new[None].astype(c.dtype), (layer, 0, start, 0, 0))
                          for c, new in zip(cache, (k, v)))
            keys, values = (jax.lax.dynamic_index_in_dim(c, layer, keepdims=False) for c in cache)
        x = (x.astype(jnp.float32) + self.attn.output(q, keys, values, mask)).astype(dtype)
        return (x.astype(jnp.float32) + self.mlp(self.norm2(x).astype(dtype))).astype(dtype), cache


class Qwen2(nnx.Module):
    """Token ids to next-token logits; see __call__."""

    def __init__(self, config: Qwen2Config, *, rngs: nnx.Rngs):
        cfg = self.config = config
        init = nnx.initializers.normal(0.02)
        self.embed = nnx.Param(init(rngs.params(), (cfg.vocab_size, cfg.dim), cfg.weight_dtype),
                               logical_axes=("vocab", "embed"))

        self.blocks = stacked(lambda r: Block(cfg, r), cfg.num_layers, rngs)
        self.norm = RMSNorm(cfg.dim, eps=cfg.eps, axis_name="embed", param_dtype=cfg.weight_dtype)
        self.lm_head = None if cfg.tie_embeddings else Linear(
            cfg.dim, cfg.vocab_size, axes=("embed", "vocab"), use_bias=False, dtype=cfg.compute_dtype,
            param_dtype=cfg.weight_dtype, rngs=rngs)

    def empty_cache(self, batch: int, length: int) -> Cache:
        cfg = self.config
        shape = (cfg.num_layers, batch, length, cfg.num_kv_heads, cfg.head_dim)
        return jnp.zeros(shape, cfg.compute_dtype), jnp.zeros(shape, cfg.compute_dtype)

    def __call__(self, ids: jax.Array, positions: jax.Array, key_mask: jax.Array, cache: Cache | None = None,
                 start=0, logits_at=None) -> tuple[jax.Array, Cache | None]:
        """Logits float32 [B, L, vocab] (or [B, vocab] at slot `logits_at`) and the updated cache.

        ids, positions [B, L] (positions are RoPE positions: left padding shifts them). Slot
        start + i holds token i (start = 0 without a cache); key_mask [B, S] is True for slots
        holding real tokens, S = L without a cache or the cache length with one. Query i sees
        the real tokens in slots <= start + i.
        """
        cfg = self.config
        x = jnp.take(self.embed[...], ids, axis=0).astype(cfg.compute_dtype)
        cos, sin = rope_tables(positions, cfg.head_dim, cfg.rope_theta)
        return self.decode(x, cos, sin, key_mask, cache, start, logits_at)

    def decode(self, x: jax.Array, cos: jax.Array, sin: jax.Array, key_mask: jax.Array, cache: Cache | None = None,
               start=0, logits_at=None) -> tuple[jax.Array, Cache | None]:
        """__call__ from input embeddings x [B, L, dim] and RoPE tables cos, sin [B, L, head_dim]
        (how a multimodal model feeds its own embeddings and position encoding)."""
        cfg = self.config
        slots = jnp.arange(key_mask.shape[1])
        causal = slots[None, None, :] <= (start + jnp.arange(x.shape[1]))[None, :, None]
        mask = causal & key_mask.astype(bool)[:, None, :]
        graphdef, stacked = nnx.split(self.blocks)

        def one_block(carry, layer_params):
            x, cache, layer = carry
            x, cache = nnx.merge(graphdef, layer_params)(x, cos, sin, mask, cache, layer, start)
            return (x, cache, layer + 1), None

        (x, cache, _), _ = jax.lax.scan(one_block, (x, cache, 0), stacked)
        if logits_at is not None:
            x = jax.lax.dynamic_index_in_dim(x, logits_at, axis=1, keepdims=False)
        return self.logits(self.norm(x).astype(cfg.compute_dtype)), cache

    def logits(self, h: jax.Array) -> jax.Array:
        if self.lm_head is not None:
            return self.lm_head(h, out_dtype=jnp.float32)
        embed = self.embed[...].astype(self.config.compute_dtype)
        return jnp.einsum("...d,vd->...v", h, embed, preferred_element_type=jnp.float32)
