"""Sequence (context) parallel attention: Ulysses and ring, in `jax.shard_map` over `context`.

Both take [B, L, heads, head_dim] arrays sharded (or to be sharded) along L over the mesh's
`context` axis, and return the same layout. They run under the mesh set with
`jax.set_mesh(mesh)`; batch goes over `data` (and `fsdp`) and heads over `tensor` where
those divide. L need not divide by the context size: the sequence is padded and the padded
keys are hidden with block ids (key k is visible to query q when k_block[k] <= q_block[q]).

- Ulysses: an all-to-all turns sequence shards into head shards, any local backend runs on
  the full sequence for heads/context heads, and a second all-to-all turns them back. The
  heads on each device must divide by the context size.
- ring: each device keeps its query shard while the key/value shards (and their block ids)
  travel round the ring with `ppermute`; the partial results are merged with an online
  softmax (float32 running max and sum, in key chunks), so no device ever holds the full
  sequence or a full block of scores.
"""
from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from skyreels_jax.nn.attention import (
    attention,
    choose_backend,
    online_softmax_finish,
    online_softmax_init,
    online_softmax_step,
    register_backend,
)
from skyreels_jax.nn.attention_fused import splash_attention

AXIS = "context"
_HIDDEN = jnp.iinfo(jnp.int32).max  # block id of padded keys: visible to no query


def _mesh():
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or AXIS not in mesh.axis_names:
        raise ValueError("sequence-parallel attention needs a mesh with a 'context' axis set with "
                         "`with jax.set_mesh(make_mesh(context=N, ...)):` around the call")
    return mesh


def _axes_dividing(mesh, names, size):
    """The mesh axes among `names` (larger than 1) whose product divides `size`, greedily."""
    axes, total = [], 1
    for name in names:
        n = mesh.shape.get(name, 1)
        if n > 1 and size % (total * n) == 0:
            axes.append(name)
            total *= n
    return tuple(axes) or None, total


def check_heads(num_heads: int, mesh) -> None:
    """Raise unless Ulysses can split `num_heads` over the mesh: the heads left on each `tensor`
    shard must divide by the `context` size (the all-to-all hands each device whole heads)."""
    _, tensor = _axes_dividing(mesh, ("tensor",), num_heads)
    local, ctx = num_heads // tensor, mesh.shape.get(AXIS, 1)
    if local % ctx:
        raise ValueError(f"Ulysses attention needs the heads per device ({local} of {num_heads}, tensor={tensor}) "
                         f"to divide by the context size {ctx}; use a context size that divides them, "
                         "or sequence parallel 'ring'")


def check_config(config, mesh) -> None:
    """Early checks of a DiT config's sequence parallelism against the mesh it will run on."""
    if config.sequence_parallel is None:
        return
    if mesh is None or mesh.shape.get(AXIS, 1) < 2:
        raise ValueError(f"sequence_parallel={config.sequence_parallel!r} splits attention over the mesh's 'context' "
                         "axis: pass a mesh with context > 1, e.g. mesh=make_mesh(context=4) (CLI: --mesh 1,1,4,1)")
    if config.sequence_parallel == "ulysses":
        check_heads(config.num_heads, mesh)


def _prepare(q, k, v, q_block, k_block, bias, k_mask):
    """Checks, padding of L to the context size, and the shard specs shared by both wrappers."""
    if bias is not None or k_mask is not None:
        raise ValueError("sequence-parallel attention supports block ids, not bias or k_mask")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"sequence-parallel attention is for self-attention, got Lq={q.shape[1]} Lk={k.shape[1]}")
    mesh = _mesh()
    ctx = mesh.shape[AXIS]
    length = q.shape[1]
    pad = (-length) % ctx
    if q_block is None and pad:
        q_block = k_block = jnp.zeros((length,), jnp.int32)
    if pad:
        q, k, v = (jnp.concatenate([t, jnp.zeros((t.shape[0], pad, *t.shape[2:]), t.dtype)], axis=1)
                   for t in (q, k, v))
        # concatenate, not jnp.pad: two jnp.pad calls of one array with different fill values
        # gave the first fill to both inside jit (jax 0.10.2, CPU), un-hiding the padded keys.
        q_block = jnp.concatenate([q_block.astype(jnp.int32), jnp.zeros((pad,), jnp.int32)])
        k_block = jnp.concatenate([k_block.astype(jnp.int32), jnp.full((pad,), _HIDDEN, jnp.int32)])
    batch, _ = _axes_dividing(mesh, ("data", "fsdp"), q.shape[0])
    heads, _ = _axes_dividing(mesh, ("tensor",), q.shape[2])
    spec = P(batch, AXIS, heads, None)
    return mesh, ctx, q, k, v, q_block, k_block, spec, length


def ulysses_attention(q, k, v, *, q_block=None, k_block=None, bias=None, k_mask=None, scale=None,
                      inner: str = "auto"):
    """Attention with an all-to-all from sequence shards to head shards and back.

    check_vma is off: the local backends (e.g. the chunked scan) build carries that are not
    marked as varying over `context`.
    """
    mesh, ctx, q, k, v, q_block, k_block, spec, length = _prepare(q, k, v, q_block, k_block, bias, k_mask)
    check_heads(q.shape[2], mesh)
    to_heads = partial(jax.lax.all_to_all, axis_name=AXIS, split_axis=2, concat_axis=1, tiled=True)
    to_sequence = partial(jax.lax.all_to_all, axis_name=AXIS, split_axis=1, concat_axis=2, tiled=True)

    def local(q, k, v, q_block, k_block):
        out = attention(to_heads(q), to_heads(k), to_heads(v), q_block=q_block, k_block=k_block, scale=scale,
                        backend=inner)
        return to_sequence(out)

    blocks = P() if q_block is not None else None
    out = jax.shard_map(local, mesh=mesh, in_specs=(spec, spec, spec, blocks, blocks), out_specs=spec, check_vma=False)(
        q, k, v, q_block, k_block)
    return out[:, :length]


def ring_attention(q, k, v, *, q_block=None, k_block=None, bias=None, k_mask=None, scale=None,
                   inner: str = "auto", chunk: int = 512):
    """Attention with key/value shards passed round the ring and an online-softmax merge.

    Each ring step runs the fused kernel of the platform on the shard it holds where it can (splash on
    TPU: no block-causal mask; `inner` "auto" or "splash") and merges by log-sum-exp; otherwise it folds
    the shard in chunks of `chunk` keys, so a device holds one [B, heads, L/context, chunk] block of
    scores at a time.
    """
    masked = q_block is not None
    mesh, ctx, q, k, v, q_block, k_block, spec, length = _prepare(q, k, v, q_block, k_block, bias, k_mask)
    if q_block is None:
        q_block = k_block = jnp.zeros((q.shape[1],), jnp.int32)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    ring = [(i, (i + 1) % ctx) for i in range(ctx)]
    local_shape = (q.shape[0], q.shape[1] // ctx, *q.shape[2:])
    fused = not masked and inner in ("auto", "splash") and (
        inner == "splash" or choose_backend(local_shape, local_shape, q.dtype) == "splash")

    def local(q, k, v, q_block, k_block):
        b, lq, n, d = q.shape
        if fused:
            def fold(stats, k, v, k_block):
                out, lse = splash_attention(q, k, v, (k_block != _HIDDEN)[None], scale, with_lse=True)
                return merge_by_lse(stats, out, lse)

            init = (jnp.zeros((b, lq, n, d), jnp.float32), jnp.full((b, n, lq), -jnp.inf, jnp.float32))
            def finish(stats):
                return stats[0]
        else:
            kc = min(chunk, k.shape[1])
            pad = (-k.shape[1]) % kc  # hidden keys, so that each shard is whole chunks
            k, v = (jnp.concatenate([t, jnp.zeros((b, pad, n, d), t.dtype)], axis=1) for t in (k, v))
            k_block = jnp.concatenate([k_block, jnp.full((pad,), _HIDDEN, jnp.int32)])

            def fold(stats, k, v, k_block):  # every key chunk of the shard held now
                chunks = (k.reshape(b, -1, kc, n, d).swapaxes(0, 1), v.reshape(b, -1, kc, n, d).swapaxes(0, 1),
                          k_block.reshape(-1, kc))

                def one(stats, c):
                    visible = (c[2][None, :] <= q_block[:, None])[None, None]
                    return online_softmax_step(stats, q, c[0], c[1], visible, scale), None

                return jax.lax.scan(one, stats, chunks)[0]

            init, finish = online_softmax_init(b, n, lq, d), online_softmax_finish

        def step(carry, _):  # a scan, not a Python loop: one step's buffers live at a time
            stats, k, v, k_block = carry
            stats = fold(stats, k, v, k_block)
            return (stats, *(jax.lax.ppermute(t, AXIS, ring) for t in (k, v, k_block))), None

        (stats, k, v, k_block), _ = jax.lax.scan(step, (init, k, v, k_block), None, length=ctx - 1)
        return finish(fold(stats, k, v, k_block)).astype(q.dtype)

    blocks = P(AXIS)
    out = jax.shard_map(local, mesh=mesh, in_specs=(spec, spec, spec, blocks, blocks), out_specs=spec, check_vma=False)(
        q, k, v, q_block, k_block)
    return out[:, :length]


def merge_by_lse(stats, out, lse):
    """Fold one shard's normalised attention output [b, lq, n, d] with its log-sum-exp [b, n, lq] into the
    running (output, log-sum-exp), both float32."""
    acc, total = stats
    new = jnp.logaddexp(total, lse)
    def weight(x):
        return jnp.exp(x - jnp.where(jnp.isfinite(new), new, 0.0)).transpose(0, 2, 1)[..., None]
    return acc * weight(total) + out.astype(jnp.float32) * weight(lse), new


register_backend("ulysses", ulysses_attention)
register_backend("ring", ring_attention)
