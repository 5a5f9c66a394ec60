"""Fused attention kernels of the accelerators: cuDNN flash attention (GPU) and splash (Pallas, TPU).

Both take and return the [B, L, heads, head_dim] layout of `skyreels_jax.nn.attention`, keep the
softmax statistics in float32 and support no logit bias and no block-causal mask (the caller
falls back to the chunked backend for those). Neither can run on a CPU, but both trace there,
and splash also runs there in Pallas' interpret mode (`interpret=True`, slow; for tests).

Custom kernels cannot be partitioned by XLA, so under a mesh `fused_attention` runs them in
`jax.shard_map`: the batch (the CFG pair) and the heads split as the rule table splits them, and
every other mesh axis takes heads where they still divide, else query rows (keys and values are
then gathered whole). Inside a shard_map that already made the axes manual (Ulysses, ring), the
kernel runs as it is.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from skyreels_jax.nn.sharding import attention_split

# Splash tiles (one place): queries and keys in tiles of the first size whose padding wastes at most 1/32 of the
# sequence, shorter sequences rounded up to the 128 lanes. The largest sizes are maxdiffusion's for Wan on v6e
# (block_q 2048, block_kv 1024); 540P windows (51,000 tokens) pad by 0.4 %, 720P ones (111,600) by 0.9 % / 0.01 %.
SPLASH_Q_TILES = (2048, 1024, 512)
SPLASH_KV_TILES = (1024, 512)
# Keys are fetched 1024 at a time but their logits computed 512 at a time: a 2048 x 1024 float32 tile of logits
# with its buffers passes the 16 MiB of scoped VMEM of v5e and v5p at 720P (the compiler refuses it).
SPLASH_KV_COMPUTE = 512


def fused_attention(backend: str, q: jax.Array, k: jax.Array, v: jax.Array, k_mask: jax.Array | None,
                    scale: float) -> jax.Array:
    """The fused kernel `backend` ("cudnn" or "splash") on one device, or in shard_map under a mesh."""
    kernel = (lambda q, k, v, k_mask: cudnn_attention(q, k, v, scale)) if backend == "cudnn" else (
        lambda q, k, v, k_mask: splash_attention(q, k, v, k_mask, scale))
    mesh = jax.sharding.get_abstract_mesh()
    free = () if mesh.empty else tuple(a for a in mesh.axis_names if mesh.shape[a] > 1 and a not in mesh.manual_axes)
    if not free:
        return kernel(q, k, v, k_mask)
    batch, heads, rows = attention_split(mesh, free, q.shape[0], q.shape[2])
    lq = q.shape[1]
    shards = math.prod(mesh.shape[a] for a in rows)
    if lq % shards:
        q = jnp.pad(q, ((0, 0), (0, -lq % shards), (0, 0), (0, 0)))
    def entry(axes):
        return None if not axes else axes[0] if len(axes) == 1 else axes
    q_spec, kv_spec = P(entry(batch), entry(rows), entry(heads), None), P(entry(batch), None, entry(heads), None)
    mask_spec = None if k_mask is None else P(entry(batch), None)
    # every axis manual, size-1 ones too: Mosaic refuses a partly automatic partitioning
    out = jax.shard_map(kernel, in_specs=(q_spec, kv_spec, kv_spec, mask_spec), out_specs=q_spec,
                        check_vma=False)(q, k, v, k_mask)
    return out[:, :lq]


def cudnn_attention(q: jax.Array, k: jax.Array, v: jax.Array, scale: float) -> jax.Array:
    """cuDNN flash attention (jax.nn.dot_product_attention, implementation="cudnn"): bf16/f16 only."""
    return jax.nn.dot_product_attention(q, k, v, scale=scale, implementation="cudnn")


def _splash_kernel(heads: int, lq: int, lk: int, block_q: int, block_kv: int, interpret: bool, with_lse: bool):
    """Made anew at each call (jax caches the mask processing): a kernel kept across traces would carry
    the first trace's constants into the next (a scan body's into the code after it)."""
    from jax.experimental.pallas.ops.tpu import splash_attention as splash

    mask = splash.MultiHeadMask([splash.FullMask((lq, lk))] * heads)
    compute = min(block_kv, SPLASH_KV_COMPUTE)
    sizes = splash.BlockSizes(block_q=block_q, block_kv=block_kv, block_kv_compute=compute,
                              block_q_dkv=block_q, block_kv_dkv=block_kv, block_kv_dkv_compute=compute,
                              block_q_dq=block_q, block_kv_dq=block_kv)
    return splash.make_splash_mha(mask, block_sizes=sizes, head_shards=1, q_seq_shards=1, interpret=interpret,
                                  save_residuals=with_lse)


def splash_tile(length: int, tiles: tuple[int, ...]) -> int:
    """The splash tile for a sequence of `length`: see SPLASH_Q_TILES."""
    for tile in tiles:
        if length >= tile and (-length % tile) * 32 <= length:
            return tile
    return min(tiles[-1], -(-length // 128) * 128)


def splash_attention(q: jax.Array, k: jax.Array, v: jax.Array, k_mask: jax.Array | None, scale: float,
                     interpret: bool = False, with_lse: bool = False):
    """Splash attention: one kernel call over batch × heads, or one per batch element with a key mask. Keys
    padded to the tile and keys outside k_mask get segment id 1 while every query has 0, so they are never
    attended to.

    with_lse also returns each row's log-sum-exp of the scaled logits [B, heads, Lq] (float32), with
    which ring attention merges the results of its key shards."""
    from jax.experimental.pallas.ops.tpu.splash_attention import SegmentIds

    b, lq, n, d = q.shape
    lk = k.shape[1]
    bq, bk = splash_tile(lq, SPLASH_Q_TILES), splash_tile(lk, SPLASH_KV_TILES)
    pq, pk = -(-lq // bq) * bq, -(-lk // bk) * bk
    def to_heads(x, length):
        return jnp.pad(x, ((0, 0), (0, length - x.shape[1]), (0, 0), (0, 0))).transpose(0, 2, 1, 3)
    qh = to_heads((q.astype(jnp.float32) * scale).astype(q.dtype), pq)  # splash does not scale the logits
    kh, vh = to_heads(k, pk), to_heads(v.astype(q.dtype), pk)
    kv_ids = jnp.zeros((1, lk), jnp.int32) if k_mask is None else jnp.where(k_mask.astype(bool), 0, 1)
    kv_ids = jnp.pad(kv_ids, ((0, 0), (0, pk - lk)), constant_values=1).astype(jnp.int32)
    if k_mask is None:  # one call over batch × heads: a vmapped kernel would hold every batch's tile in VMEM at once
        def fold(x):
            return x.reshape(1, b * n, *x.shape[2:])
        qh, kh, vh, heads = fold(qh), fold(kh), fold(vh), b * n
    else:  # a key mask per batch element: one call per element
        kv_ids, heads = jnp.broadcast_to(kv_ids, (b, pk)), n
    kernel = _splash_kernel(heads, pq, pk, bq, bk, interpret, with_lse)
    def one(args):
        return kernel(args[0], args[1], args[2], segment_ids=SegmentIds(jnp.zeros((pq,), jnp.int32), args[3]))
    out = jax.lax.map(one, (qh, kh.astype(q.dtype), vh, kv_ids))
    lse = None
    if with_lse:
        out, (lse,) = out
        lse = lse.reshape(b, n, pq)[:, :, :lq].astype(jnp.float32)
    out = out.reshape(b, n, pq, d).transpose(0, 2, 1, 3)[:, :lq]
    return (out, lse) if with_lse else out.astype(q.dtype)
