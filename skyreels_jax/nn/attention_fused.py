"""Fused attention kernels of the accelerators: cuDNN flash attention (GPU) and splash (Pallas, TPU).

Both take and return the [B, L, heads, head_dim] layout of `skyreels_jax.nn.attention`, keep the
softmax statistics in float32 and support no logit bias and no block-causal mask (the caller
falls back to the chunked backend for those). Neither can run on a CPU, but both trace there,
and splash also runs there in Pallas' interpret mode (`interpret=True`, slow; for tests).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

SPLASH_BLOCK = 512  # splash tile (queries and keys); lengths are padded up to a multiple of the tile in use


def cudnn_attention(q: jax.Array, k: jax.Array, v: jax.Array, scale: float) -> jax.Array:
    """cuDNN flash attention (jax.nn.dot_product_attention, implementation="cudnn"): bf16/f16 only."""
    return jax.nn.dot_product_attention(q, k, v, scale=scale, implementation="cudnn")


@functools.lru_cache(maxsize=64)
def _splash_kernel(heads: int, lq: int, lk: int, block_q: int, block_kv: int, interpret: bool):
    from jax.experimental.pallas.ops.tpu import splash_attention as splash

    mask = splash.MultiHeadMask([splash.FullMask((lq, lk))] * heads)
    sizes = splash.BlockSizes(block_q=block_q, block_kv=block_kv, block_kv_compute=block_kv,
                              block_q_dkv=block_q, block_kv_dkv=block_kv, block_kv_dkv_compute=block_kv,
                              block_q_dq=block_q, block_kv_dq=block_kv)
    return splash.make_splash_mha(mask, block_sizes=sizes, head_shards=1, q_seq_shards=1, interpret=interpret)


def _tile(length: int) -> int:
    """The splash tile for a sequence: SPLASH_BLOCK, or the length rounded up to 128 when shorter."""
    return min(SPLASH_BLOCK, -(-length // 128) * 128)


def splash_attention(q: jax.Array, k: jax.Array, v: jax.Array, k_mask: jax.Array | None, scale: float,
                     interpret: bool = False) -> jax.Array:
    """Splash attention over the batch (vmapped). Keys padded to the tile and keys outside k_mask
    get segment id 1 while every query has 0, so they are never attended to."""
    from jax.experimental.pallas.ops.tpu.splash_attention import SegmentIds

    b, lq, n, d = q.shape
    lk = k.shape[1]
    bq, bk = _tile(lq), _tile(lk)
    pq, pk = -(-lq // bq) * bq, -(-lk // bk) * bk
    def to_heads(x, length):
        return jnp.pad(x, ((0, 0), (0, length - x.shape[1]), (0, 0), (0, 0))).transpose(0, 2, 1, 3)
    qh = to_heads((q.astype(jnp.float32) * scale).astype(q.dtype), pq)  # splash does not scale the logits
    kh, vh = to_heads(k, pk), to_heads(v.astype(q.dtype), pk)
    valid = jnp.ones((b, lk), bool) if k_mask is None else jnp.broadcast_to(k_mask.astype(bool), (b, lk))
    kv_ids = jnp.pad(jnp.where(valid, 0, 1), ((0, 0), (0, pk - lk)), constant_values=1).astype(jnp.int32)
    q_ids = jnp.zeros((b, pq), jnp.int32)
    kernel = _splash_kernel(n, pq, pk, bq, bk, interpret)
    out = jax.vmap(lambda qi, ki, vi, si, sk: kernel(qi, ki, vi, segment_ids=SegmentIds(si, sk)))(
        qh, kh.astype(q.dtype), vh, q_ids, kv_ids)
    return out.transpose(0, 2, 1, 3)[:, :lq].astype(q.dtype)
