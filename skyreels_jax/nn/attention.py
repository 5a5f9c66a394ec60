"""The one attention entry point. Backends: plain XLA, chunked online softmax (long sequences
without a fused kernel, e.g. on CPU), cuDNN flash attention (GPU) and splash (TPU); "auto"
picks one by platform, sequence length and features (see `choose_backend`).

Layout is [B, L, heads, head_dim]. Logits, softmax statistics and accumulation are float32
whatever the input dtype. An optional block-causal mask is given as integer block ids per
query and per key (key k is visible to query q when k_block[k] <= q_block[q]), so no L×L
mask is ever built. T5-style models add a float bias to the logits (relative positions),
use no 1/√d scaling (scale=1.0) and hide padded keys with a per-key mask.

Other backends (the sequence-parallel wrappers of skyreels_jax.parallel) register here with
`register_backend`; "NAME:INNER" runs backend NAME around the local backend INNER.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from skyreels_jax.nn.platform import current_platform

# score entries per (batch, head) above which "auto" goes chunked off CPU: only where plain XLA's scores
# would be large (accelerators run it at full speed)
_CHUNK_ABOVE = 4096 * 4096
# keys per block of the chunked backend on CPU, which runs one head at a time: one head's block of
# 1024 × 2048 float32 scores (8 MiB) stays in the last-level cache and its products are plain matrix
# products, where all heads' blocks at once spill it (at 1950 tokens, 12 heads of 128, on 2 cores of an
# AMD EPYC: 0.13 against 0.22 s in bf16, 0.20 against 0.28 s in float32 for 975 × 195 over all heads)
_CPU_KEY_CHUNK = 2048
_BACKENDS: dict = {}  # name -> fn(q, k, v, *, q_block, k_block, bias, k_mask, scale, inner)


def register_backend(name: str, fn) -> None:
    """Make `attention(..., backend=name)` (or "name:inner") call fn."""
    _BACKENDS[name] = fn


def attention(q: jax.Array, k: jax.Array, v: jax.Array, *, q_block: jax.Array | None = None,
              k_block: jax.Array | None = None, bias: jax.Array | None = None,
              k_mask: jax.Array | None = None, scale: float | None = None, backend: str = "auto",
              chunk: int = 1024) -> jax.Array:
    """softmax(q·kᵀ·scale [+ bias] [+ masks]) · v, returned in q's dtype.

    scale defaults to 1/√head_dim. bias broadcasts to [B, heads, Lq, Lk] (float32 is kept).
    k_mask [B, Lk] is True for keys that may be attended to.
    """
    if (q_block is None) != (k_block is None):
        raise ValueError("attention: give both q_block and k_block, or neither")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if bias is not None:
        bias = jnp.asarray(bias, jnp.float32)
        bias = bias.reshape((1,) * (4 - bias.ndim) + bias.shape)
    name, _, inner = backend.partition(":")
    if name in _BACKENDS:
        return _BACKENDS[name](q, k, v, q_block=q_block, k_block=k_block, bias=bias, k_mask=k_mask, scale=scale,
                               inner=inner or "auto")
    if backend == "auto":
        backend = choose_backend(q.shape, k.shape, q.dtype, bias=bias is not None, masked=q_block is not None,
                                 k_mask=k_mask is not None)
    if backend == "xla":
        return _xla_attention(q, k, v, q_block, k_block, bias, k_mask, scale)
    if backend == "chunked":
        if current_platform() == "cpu":
            return _one_head_at_a_time(q, k, v, q_block, k_block, bias, k_mask, scale, chunk, _CPU_KEY_CHUNK)
        return _chunked_attention(q, k, v, q_block, k_block, bias, k_mask, scale, chunk, chunk)
    if backend in ("cudnn", "splash"):
        from skyreels_jax.nn import attention_fused as fused

        unsupported = [n for n, x in (("bias", bias), ("q_block/k_block", q_block),
                                      ("k_mask", k_mask if backend == "cudnn" else None)) if x is not None]
        if unsupported:
            raise ValueError(f"attention backend {backend!r} takes no {', '.join(unsupported)}; "
                             "use 'chunked' or 'auto'")
        return fused.fused_attention(backend, q, k, v, k_mask, scale)
    raise ValueError(f"unknown attention backend {backend!r}; use 'auto', 'xla', 'chunked', 'cudnn', 'splash' or "
                     f"one of {sorted(_BACKENDS)} (registered by importing skyreels_jax.parallel)")


def choose_backend(q_shape, k_shape, dtype, *, bias: bool = False, masked: bool = False, k_mask: bool = False,
                   platform: str | None = None) -> str:
    """The backend "auto" runs: the fused kernel of the platform where it supports the call, else
    chunked on CPU and for long sequences, plain XLA for short ones elsewhere.

    - TPU: splash, unless there is a logit bias or a block-causal mask, or head_dim is not a
      multiple of 128 (the TPU lane width).
    - CUDA GPU: cuDNN flash attention for bfloat16/float16 with head_dim <= 128 (a multiple of 8),
      no bias, no block-causal mask and no key mask. float32 stays on XLA/chunked: cuDNN's flash
      path would compute it in half precision.
    - CPU: always chunked, one head at a time. Its blocks of scores stay in cache, where plain XLA's
      full scores do not: at 12 heads of 128 it was faster from 64 tokens up and holds less.
    - Otherwise chunked above _CHUNK_ABOVE scores (4096² per batch and head), else XLA.
    """
    platform = platform or current_platform()
    head_dim = q_shape[-1]
    plain = not (bias or masked)
    if platform == "tpu" and plain and head_dim % 128 == 0:
        return "splash"
    if (platform == "cuda" and plain and not k_mask and jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16)
            and head_dim <= 128 and head_dim % 8 == 0):
        return "cudnn"
    if platform == "cpu":
        return "chunked"
    return "chunked" if q_shape[1] * k_shape[1] > _CHUNK_ABOVE else "xla"


def _xla_attention(q, k, v, q_block, k_block, bias, k_mask, scale):
    logits = jnp.einsum("bqnd,bknd->bnqk", q, k, preferred_element_type=jnp.float32) * scale
    if bias is not None:
        logits = logits + bias
    if q_block is not None:
        logits = jnp.where(k_block[None, :] <= q_block[:, None], logits, -jnp.inf)
    if k_mask is not None:
        logits = jnp.where(k_mask[:, None, None, :], logits, -jnp.inf)
    probs = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bnqk,bknd->bqnd", probs.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return out.astype(q.dtype)


def _pad_to(x: jax.Array, axis: int, multiple: int) -> jax.Array:
    pad = (-x.shape[axis]) % multiple
    if pad == 0:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, pad)
    return jnp.pad(x, widths)


def chunk_size(length: int, most: int) -> int:
    """The size of equal chunks of at most `most` covering `length`: a divisor of length from most/2 up
    where there is one (no padding, no mask), else the fewest chunks balanced (the last one padded)."""
    if length <= most:
        return length
    divisor = next((size for size in range(most, most // 2 - 1, -1) if length % size == 0), None)
    return divisor or -(-length // -(-length // most))


def _chunked_attention(q, k, v, q_block, k_block, bias, k_mask, scale, chunk, key_chunk):
    """Flash-style: scan over key chunks with a running max and sum, map over query chunks.

    Memory is O(chunk · key_chunk) per (batch, head) instead of O(Lq·Lk) (plus the bias, when given).
    """
    b, lq, n, d = q.shape
    lk = k.shape[1]
    qc, kc = chunk_size(lq, chunk), chunk_size(lk, key_chunk)
    nq, nk = -(-lq // qc), -(-lk // kc)
    masked = q_block is not None or k_mask is not None or lk % kc != 0
    if q_block is None:
        q_block, k_block = jnp.zeros((lq,), jnp.int32), jnp.zeros((lk,), jnp.int32)
    key_ok = jnp.ones((1, lk), bool) if k_mask is None else k_mask.astype(bool)
    key_ok = _pad_to(key_ok, 1, kc).reshape(-1, nk, kc).swapaxes(0, 1)       # [nk, b|1, kc]
    k_block = _pad_to(k_block, 0, kc)
    keys = _pad_to(k, 1, kc).reshape(b, nk, kc, n, d).swapaxes(0, 1)
    values = _pad_to(v, 1, kc).reshape(b, nk, kc, n, d).swapaxes(0, 1)
    key_side = (keys, values, key_ok, k_block.reshape(nk, kc))
    if bias is not None:  # [B|1, N|1, Lq, Lk] -> [nq, B|1, N|1, qc, nk, kc]
        bias = _pad_to(_pad_to(bias, 2, qc), 3, kc)
        bias = bias.reshape(*bias.shape[:2], nq, qc, nk, kc).transpose(2, 0, 1, 3, 4, 5)

    def one_query_chunk(args):
        q_i, qb_i, bias_i = args  # [b, qc, n, d], [qc], [B|1, N|1, qc, nk, kc] or None
        bias_side = None if bias_i is None else jnp.moveaxis(bias_i, 3, 0)

        def step(carry, kv):
            (k_j, v_j, ok_j, kb_j), bias_j = kv
            visible = ok_j[:, None, None, :] & (kb_j[None, :] <= qb_i[:, None])[None, None] if masked else None
            return online_softmax_step(carry, q_i, k_j, v_j, visible, scale, bias_j), None

        stats, _ = jax.lax.scan(step, online_softmax_init(b, n, qc, d), (key_side, bias_side))
        return online_softmax_finish(stats)  # [b, qc, n, d]

    queries = _pad_to(q, 1, qc).reshape(b, nq, qc, n, d).swapaxes(0, 1)
    q_blocks = _pad_to(q_block, 0, qc).reshape(nq, qc)
    out = jax.lax.map(one_query_chunk, (queries, q_blocks, bias))  # [nq, b, qc, n, d]
    return out.swapaxes(0, 1).reshape(b, nq * qc, n, d)[:, :lq].astype(q.dtype)


def _one_head_at_a_time(q, k, v, q_block, k_block, bias, k_mask, scale, chunk, key_chunk):
    """The chunked backend mapped over the heads (one head's blocks of scores stay in cache on CPU)."""
    bias_per_head = bias is not None and bias.shape[1] > 1

    def one_head(args):
        q_h, k_h, v_h, bias_h = args
        return _chunked_attention(q_h, k_h, v_h, q_block, k_block, bias_h if bias_per_head else bias, k_mask,
                                  scale, chunk, key_chunk)

    def heads(x):  # [b, L, n, d] -> [n, b, L, 1, d]
        return jnp.moveaxis(x, 2, 0)[:, :, :, None]

    bias_heads = jnp.moveaxis(bias, 1, 0)[:, :, None] if bias_per_head else None  # [n, B|1, 1, Lq, Lk]
    out = jax.lax.map(one_head, (heads(q), heads(k), heads(v), bias_heads))      # [n, b, Lq, 1, d]
    return jnp.moveaxis(out[:, :, :, 0], 0, 2)


# -- the online softmax of flash attention, shared by the chunked backend and ring attention ----------
def online_softmax_init(b: int, n: int, lq: int, d: int):
    """(running max, running sum, accumulator) before any key, float32."""
    return (jnp.full((b, n, lq), -jnp.inf, jnp.float32), jnp.zeros((b, n, lq), jnp.float32),
            jnp.zeros((b, n, lq, d), jnp.float32))


def online_softmax_step(stats, q, k, v, visible, scale, bias=None):
    """Fold one block of keys [b, kc, n, d] into the running statistics of queries q [b, lq, n, d].

    visible (broadcast to [b, n, lq, kc]) hides keys where False; None shows all. The running sum adds
    the weights as they multiply v (rounded to its dtype): one pass less over the block, and the
    normaliser of exactly the weights applied.
    """
    m, total, acc = stats
    s = jnp.einsum("bqnd,bknd->bnqk", q, k, preferred_element_type=jnp.float32)
    if bias is not None or scale <= 0:
        s, scale = s * scale + (0.0 if bias is None else bias), 1.0
    if visible is not None:
        s = jnp.where(visible, s, -jnp.inf)
    # a positive scale commutes with the max (and its rounding), so it joins the exp's pass over the
    # scores instead of taking one of its own
    m_new = jnp.maximum(m, s.max(-1) * scale)
    m_safe = jnp.where(jnp.isfinite(m_new), m_new, 0.0)  # rows that have seen no visible key yet
    p = jnp.exp(s * scale - m_safe[..., None]).astype(v.dtype)
    correction = jnp.exp(m - m_safe)
    total = total * correction + p.astype(jnp.float32).sum(-1)
    acc = acc * correction[..., None] + jnp.einsum("bnqk,bknd->bnqd", p, v, preferred_element_type=jnp.float32)
    return m_new, total, acc


def online_softmax_finish(stats) -> jax.Array:
    """The attention output [b, lq, n, d] (float32) from the final statistics; rows with no key give 0."""
    _, total, acc = stats
    total = jnp.where(total == 0.0, 1.0, total)
    return (acc / total[..., None]).transpose(0, 2, 1, 3)
