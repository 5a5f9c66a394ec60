"""Qwen2.5-VL forward and jitted generation over left-padded prompts with images and videos.

The vision encoder runs first (jitted per grid shape); its tokens replace the placeholders in the
prefill, which uses the multimodal RoPE. Each later step feeds one text token at its 1D position
(prompt length + step + the row's rope delta) through the plain Qwen2 step, with the same
logits processing as qwen2/generate.py (greedy, or temperature / top-k / top-p, repetition penalty).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.models.qwen2.generate import Sampling, process_logits
from skyreels_jax.models.qwen2_5_vl.model import Qwen2_5_VL, rope_index


@dataclasses.dataclass
class VisionInputs:
    """What the processor gives for a prompt's images and videos (transformers' names, numpy arrays)."""

    pixel_values: np.ndarray | None = None
    image_grid_thw: np.ndarray | None = None
    pixel_values_videos: np.ndarray | None = None
    video_grid_thw: np.ndarray | None = None
    second_per_grid_ts: list[float] | None = None

    @classmethod
    def from_processor(cls, batch) -> "VisionInputs":
        get = lambda k: None if batch.get(k) is None else np.asarray(batch[k])  # noqa: E731
        seconds = batch.get("second_per_grid_ts")
        return cls(get("pixel_values"), get("image_grid_thw"), get("pixel_values_videos"), get("video_grid_thw"),
                   None if seconds is None else [float(s) for s in np.asarray(seconds).reshape(-1)])


def prepare(model: Qwen2_5_VL, ids, mask, vision: VisionInputs):
    """(ids, mask, positions [3,B,L], deltas [B], vision tokens [K, dim], flat slots [K]) on the host/device."""
    cfg = model.config
    ids, mask = np.asarray(ids, np.int32), np.asarray(mask, np.int32)
    positions, deltas = rope_index(ids, mask, cfg, vision.image_grid_thw, vision.video_grid_thw,
                                   vision.second_per_grid_ts)
    flat = ids.reshape(-1)
    tokens, slots = [], []
    for token, pixels, grid in ((cfg.image_token_id, vision.pixel_values, vision.image_grid_thw),
                                (cfg.video_token_id, vision.pixel_values_videos, vision.video_grid_thw)):
        where = np.flatnonzero((flat == token) & (mask.reshape(-1) > 0))
        if pixels is None:
            if where.size:
                raise ValueError(f"the prompt has {where.size} placeholder tokens {token} but no pixels for them")
            continue
        feats = model.visual.encode(pixels, grid)
        if feats.shape[0] != where.size:
            raise ValueError(f"{feats.shape[0]} vision tokens for {where.size} placeholders (token id {token})")
        tokens.append(feats)
        slots.append(where)
    vision_tokens = jnp.concatenate(tokens) if tokens else jnp.zeros((0, cfg.text.dim), jnp.float32)
    where = np.concatenate(slots).astype(np.int32) if slots else np.zeros((0,), np.int32)
    return ids, mask, positions.astype(np.int32), deltas.astype(np.int32), vision_tokens, where


@functools.partial(jax.jit, static_argnums=(0,))
def _forward(graphdef, state, ids, positions, mask, vision_tokens, where):
    return nnx.merge(graphdef, state)(ids, positions, mask, vision_tokens, where)


def forward(model: Qwen2_5_VL, ids, mask=None, vision: VisionInputs = VisionInputs()) -> jax.Array:
    """Logits [B, L, vocab] float32 of whole left-padded prompts with their images/videos."""
    mask = np.ones(np.shape(ids), np.int32) if mask is None else mask
    ids, mask, positions, _, tokens, where = prepare(model, ids, mask, vision)
    graphdef, state = nnx.split(model)
    return _forward(graphdef, state, ids, positions, mask, tokens, where)


def _generate(graphdef, state, ids, mask, positions, deltas, vision_tokens, where, stop, key, temperature, top_k,
              top_p, penalty, *, max_new: int, greedy: bool, pad_id: int):
    model: Qwen2_5_VL = nnx.merge(graphdef, state)
    lm = model.lm
    b, p = ids.shape
    seq = jnp.concatenate([ids, jnp.full((b, max_new), pad_id, ids.dtype)], axis=1)
    valid = jnp.concatenate([mask.astype(bool), jnp.zeros((b, max_new), bool)], axis=1)
    prompt_len = mask.sum(-1).astype(jnp.int32)
    seen = jnp.zeros((b, lm.config.vocab_size), jnp.int32).at[jnp.arange(b)[:, None], ids].add(mask) > 0
    x, cos, sin = model.prefill_inputs(ids, positions, vision_tokens, where)
    logits, cache = lm.decode(x, cos, sin, valid, lm.empty_cache(b, p + max_new), 0, p - 1)

    def choose(t, logits, seq, valid, done, seen):
        scores = process_logits(logits, seen, greedy, temperature, top_k, top_p, penalty)
        token = (jnp.argmax(scores, axis=-1) if greedy else
                 jax.random.categorical(jax.random.fold_in(key, t), scores, axis=-1)).astype(seq.dtype)
        token = jnp.where(done, pad_id, token)
        seq = jax.lax.dynamic_update_slice_in_dim(seq, token[:, None], p + t, axis=1)
        valid = jax.lax.dynamic_update_slice_in_dim(valid, jnp.ones((b, 1), bool), p + t, axis=1)
        return seq, valid, done | jnp.isin(token, stop), seen.at[jnp.arange(b), token].set(True)

    seq, valid, done, seen = choose(0, logits, seq, valid, jnp.zeros((b,), bool), seen)

    def cond(carry):
        t, _, _, done, _, _ = carry
        return (t < max_new) & ~jnp.all(done)

    def body(carry):
        t, seq, valid, done, seen, cache = carry
        slot = p + t - 1
        token = jax.lax.dynamic_slice_in_dim(seq, slot, 1, axis=1)
        logits, cache = lm(token, (prompt_len + t - 1 + deltas)[:, None], valid, cache, slot, 0)
        seq, valid, done, seen = choose(t, logits, seq, valid, done, seen)
        return t + 1, seq, valid, done, seen, cache

    _, seq, *_ = jax.lax.while_loop(cond, body, (1, seq, valid, done, seen, cache))
    return seq[:, p:]


_generate_jit = jax.jit(_generate, static_argnums=(0,), static_argnames=("max_new", "greedy", "pad_id"))


def generate(model: Qwen2_5_VL, ids, mask, vision: VisionInputs = VisionInputs(), *, max_new_tokens: int,
             stop_tokens=(), pad_id: int = 0, sampling: Sampling = Sampling(), seed: int = 0) -> np.ndarray:
    """New tokens [B, max_new_tokens] int32 after left-padded prompts (pad_id after each row's stop token)."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    ids, mask, positions, deltas, tokens, where = prepare(model, ids, mask, vision)
    if not mask[:, -1].all() or (np.diff(mask, axis=1) < 0).any():
        raise ValueError("prompts must be left-padded: mask is 0...0 1...1 in every row, ending in a token")
    context = model.config.text.max_position
    if ids.shape[1] + max_new_tokens > context:
        raise ValueError(f"the prompt ({ids.shape[1]} tokens) plus max_new_tokens ({max_new_tokens}) exceed the "
                         f"model's context of {context} tokens: use fewer frames or pixels, or lower max_new_tokens")
    graphdef, state = nnx.split(model)
    out = _generate_jit(graphdef, state, jnp.asarray(ids), jnp.asarray(mask), jnp.asarray(positions),
                        jnp.asarray(deltas), tokens, jnp.asarray(where),
                        jnp.asarray(np.asarray(stop_tokens, np.int32).reshape(-1)), jax.random.key(seed),
                        jnp.float32(sampling.temperature), jnp.int32(sampling.top_k), jnp.float32(sampling.top_p),
                        jnp.float32(sampling.repetition_penalty), max_new=max_new_tokens, greedy=sampling.greedy,
                        pad_id=pad_id)
    return np.asarray(out)
