"""The one attention entry point. Backends: plain XLA, and chunked online softmax for long sequences.

Layout is [B, L, heads, head_dim]. Logits, softmax statistics and accumulation are float32
whatever the input dtype. An optional block-causal mask is given as integer block ids per
query and per key (key k is visible to query q when k_block[k] <= q_block[q]), so no L×L
mask is ever built.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

_CHUNK_ABOVE = 4096 * 4096  # score entries per (batch, head) above which "auto" goes chunked


def attention(q: jax.Array, k: jax.Array, v: jax.Array, *, q_block: jax.Array | None = None,
              k_block: jax.Array | None = None, backend: str = "auto", chunk: int = 1024) -> jax.Array:
    """softmax(q·kᵀ/√d [+ mask]) · v, returned in q's dtype."""
    if (q_block is None) != (k_block is None):
        raise ValueError("attention: give both q_block and k_block, or neither")
    if backend == "auto":
        backend = "chunked" if q.shape[1] * k.shape[1] > _CHUNK_ABOVE else "xla"
    if backend == "xla":
        return _xla_attention(q, k, v, q_block, k_block)
    if backend == "chunked":
        return _chunked_attention(q, k, v, q_block, k_block, chunk)
    raise ValueError(f"unknown attention backend {backend!r}; use 'auto', 'xla' or 'chunked'")


def _xla_attention(q, k, v, q_block, k_block):
    scale = 1.0 / math.sqrt(q.shape[-1])
    logits = jnp.einsum("bqnd,bknd->bnqk", q, k, preferred_element_type=jnp.float32) * scale
    if q_block is not None:
        logits = jnp.where(k_block[None, :] <= q_block[:, None], logits, -jnp.inf)
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


def _chunked_attention(q, k, v, q_block, k_block, chunk):
    """Flash-style: scan over key chunks with a running max and sum, map over query chunks.

    Memory is O(chunk²) per (batch, head) instead of O(Lq·Lk).
    """
    b, lq, n, d = q.shape
    lk = k.shape[1]
    qc, kc = min(chunk, lq), min(chunk, lk)
    scale = 1.0 / math.sqrt(d)
    if q_block is None:
        q_block, k_block = jnp.zeros((lq,), jnp.int32), jnp.zeros((lk,), jnp.int32)
    k_valid = _pad_to(jnp.ones((lk,), bool), 0, kc)
    k_block = _pad_to(k_block, 0, kc)
    nk = k_valid.shape[0] // kc
    keys = _pad_to(k, 1, kc).reshape(b, nk, kc, n, d).swapaxes(0, 1)
    values = _pad_to(v, 1, kc).reshape(b, nk, kc, n, d).swapaxes(0, 1)
    key_side = (keys, values, k_valid.reshape(nk, kc), k_block.reshape(nk, kc))

    def one_query_chunk(args):
        q_i, qb_i = args  # [b, qc, n, d], [qc]

        def step(carry, kv):
            m, l, acc = carry
            k_j, v_j, valid_j, kb_j = kv
            s = jnp.einsum("bqnd,bknd->bnqk", q_i, k_j, preferred_element_type=jnp.float32) * scale
            visible = valid_j[None, :] & (kb_j[None, :] <= qb_i[:, None])
            s = jnp.where(visible, s, -jnp.inf)
            m_new = jnp.maximum(m, s.max(-1))
            m_safe = jnp.where(jnp.isfinite(m_new), m_new, 0.0)
            p = jnp.exp(s - m_safe[..., None])
            correction = jnp.exp(m - m_safe)
            l = l * correction + p.sum(-1)
            acc = acc * correction[..., None] + jnp.einsum(
                "bnqk,bknd->bnqd", p.astype(v_j.dtype), v_j, preferred_element_type=jnp.float32)
            return (m_new, l, acc), None

        init = (jnp.full((b, n, qc), -jnp.inf, jnp.float32), jnp.zeros((b, n, qc), jnp.float32),
                jnp.zeros((b, n, qc, d), jnp.float32))
        (_, l, acc), _ = jax.lax.scan(step, init, key_side)
        l = jnp.where(l == 0.0, 1.0, l)  # padded query rows that see no key
        return (acc / l[..., None]).transpose(0, 2, 1, 3)  # [b, qc, n, d]

    nq = -(-lq // qc)
    queries = _pad_to(q, 1, qc).reshape(b, nq, qc, n, d).swapaxes(0, 1)
    q_blocks = _pad_to(q_block, 0, qc).reshape(nq, qc)
    out = jax.lax.map(one_query_chunk, (queries, q_blocks))  # [nq, b, qc, n, d]
    return out.swapaxes(0, 1).reshape(b, nq * qc, n, d)[:, :lq].astype(q.dtype)
