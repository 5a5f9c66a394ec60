"""Jitted text generation for the Qwen2 model: greedy or sampled, stop tokens, left-padded batches.

One jax.lax.while_loop: a prefill of the prompt into a preallocated KV cache, then one token per
step until max_new_tokens or every sequence has emitted a stop token. Logits go through
transformers' processors in transformers' order (repetition penalty; then, when sampling,
temperature, top-k, top-p). The prompt is left-padded to a length bucket, so the loop compiles
once per (batch, bucket, max_new_tokens, greedy).

`use_cache=False` recomputes the whole sequence every step (the uncached reference loop the
tests compare against): same tokens, quadratic cost.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.models.qwen2.model import Qwen2


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How the next token is chosen. greedy=True is transformers' do_sample=False (argmax after the
    repetition penalty); otherwise temperature, top_k (0 = off) and top_p (1.0 = off) apply."""

    greedy: bool = True
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    def __post_init__(self):
        if not self.greedy and self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature}; use greedy=True instead")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 turns it off), got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")


def process_logits(logits: jax.Array, seen: jax.Array, greedy: bool, temperature, top_k, top_p,
                   penalty) -> jax.Array:
    """logits [B, V] float32 as transformers' processors leave them (-inf where filtered).

    seen [B, V] marks the tokens of the prompt and of the output so far (repetition penalty:
    divide positive logits by it, multiply negative ones). Top-k keeps ties with the k-th
    logit and top-p keeps the smallest set of tokens whose probability reaches top_p, both as
    transformers computes them.
    """
    logits = jnp.where(seen, jnp.where(logits < 0, logits * penalty, logits / penalty), logits)
    if greedy:
        return logits
    logits = logits / temperature
    ascending = jnp.sort(logits, axis=-1)
    vocab = logits.shape[-1]
    k = jnp.where(top_k > 0, jnp.minimum(top_k, vocab), vocab)
    kth = jnp.take(ascending, vocab - k, axis=-1)[:, None]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
    ascending = jnp.where(ascending < kth, -jnp.inf, ascending)
    cumulative = jnp.cumsum(jax.nn.softmax(ascending, axis=-1), axis=-1)
    removed = (cumulative <= 1.0 - top_p).at[:, -1].set(False)
    # the smallest logit kept; everything below it goes (transformers scatters the same mask back)
    threshold = jnp.min(jnp.where(removed, jnp.inf, ascending), axis=-1, keepdims=True)
    return jnp.where(logits < threshold, -jnp.inf, logits)


def _generate(graphdef, state, ids, mask, stop, key, temperature, top_k, top_p, penalty, *, max_new: int,
              greedy: bool, use_cache: bool, pad_id: int):
    """Token ids [B, max_new] (pad_id after each sequence's stop token) and the number of steps run."""
    model: Qwen2 = nnx.merge(graphdef, state)
    b, p = ids.shape
    total = p + max_new
    seq = jnp.concatenate([ids, jnp.full((b, max_new), pad_id, ids.dtype)], axis=1)
    valid = jnp.concatenate([mask.astype(bool), jnp.zeros((b, max_new), bool)], axis=1)
    prompt_len = mask.sum(-1).astype(jnp.int32)
    seen = jnp.zeros((b, model.config.vocab_size), jnp.int32).at[jnp.arange(b)[:, None], ids].add(mask) > 0

    positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0).astype(jnp.int32)
    if use_cache:
        cache = model.empty_cache(b, total)
        logits, cache = model(ids, positions[:, :p], valid, cache, 0, p - 1)
    else:
        cache = None
        logits, _ = model(seq, positions, valid, None, 0, p - 1)

    def choose(t, logits, seq, valid, done, seen):
        scores = process_logits(logits, seen, greedy, temperature, top_k, top_p, penalty)
        token = (jnp.argmax(scores, axis=-1) if greedy else
                 jax.random.categorical(jax.random.fold_in(key, t), scores, axis=-1)).astype(seq.dtype)
        token = jnp.where(done, pad_id, token)
        seq = jax.lax.dynamic_update_slice_in_dim(seq, token[:, None], p + t, axis=1)
        valid = jax.lax.dynamic_update_slice_in_dim(valid, jnp.ones((b, 1), bool), p + t, axis=1)
        done = done | jnp.isin(token, stop)
        seen = seen.at[jnp.arange(b), token].set(True)
        return seq, valid, done, seen

    seq, valid, done, seen = choose(0, logits, seq, valid, jnp.zeros((b,), bool), seen)

    def cond(carry):
        t, _, _, done, _, _ = carry
        return (t < max_new) & ~jnp.all(done)

    def body(carry):
        t, seq, valid, done, seen, cache = carry
        slot = p + t - 1  # the token chosen last step
        if use_cache:
            token = jax.lax.dynamic_slice_in_dim(seq, slot, 1, axis=1)
            position = (prompt_len + t - 1)[:, None]
            logits, cache = model(token, position, valid, cache, slot, 0)
        else:
            positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0).astype(jnp.int32)
            logits, _ = model(seq, positions, valid, None, 0, slot)
        seq, valid, done, seen = choose(t, logits, seq, valid, done, seen)
        return t + 1, seq, valid, done, seen, cache

    steps, seq, *_ = jax.lax.while_loop(cond, body, (1, seq, valid, done, seen, cache))
    return seq[:, p:], steps


_generate_jit = jax.jit(_generate, static_argnums=(0,),
                        static_argnames=("max_new", "greedy", "use_cache", "pad_id"))


def bucket_length(n: int, multiple: int = 64) -> int:
    """The padded prompt length: the next multiple of `multiple` (so few distinct shapes compile)."""
    return max(multiple, -(-n // multiple) * multiple)


def left_pad(sequences: list[list[int]], length: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask) [B, length] int32 with each sequence right-aligned (left padding)."""
    ids = np.full((len(sequences), length), pad_id, np.int32)
    mask = np.zeros((len(sequences), length), np.int32)
    for i, s in enumerate(sequences):
        if len(s) > length:
            raise ValueError(f"sequence {i} has {len(s)} tokens, more than the padded length {length}")
        if s:
            ids[i, length - len(s):] = s
            mask[i, length - len(s):] = 1
    return ids, mask


def generate(model: Qwen2, ids, mask, *, max_new_tokens: int, stop_tokens=(), pad_id: int = 0,
             sampling: Sampling = Sampling(), seed: int = 0, use_cache: bool = True) -> np.ndarray:
    """New tokens [B, max_new_tokens] int32 after left-padded prompts ids/mask [B, P].

    Rows stop at their first stop token (kept in the output) and are pad_id afterwards; the loop
    ends early once every row has stopped. Prompt plus new tokens must fit the model's context.
    """
    ids, mask = np.asarray(ids, np.int32), np.asarray(mask, np.int32)
    if ids.ndim != 2 or ids.shape != mask.shape:
        raise ValueError(f"ids and mask must both be [batch, length], got {ids.shape} and {mask.shape}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not mask[:, -1].all() or (np.diff(mask, axis=1) < 0).any():
        raise ValueError("prompts must be left-padded: mask is 0...0 1...1 in every row, ending in a token")
    cfg = model.config
    if ids.min() < 0 or ids.max() >= cfg.vocab_size:
        raise ValueError(f"token ids must be in [0, {cfg.vocab_size}), got [{ids.min()}, {ids.max()}]")
    longest = int(mask.sum(1).max())
    if longest + max_new_tokens > cfg.max_position:
        raise ValueError(f"the prompt ({longest} tokens) plus max_new_tokens ({max_new_tokens}) exceed the "
                         f"model's context of {cfg.max_position} tokens: shorten the prompt or lower max_new_tokens")
    graphdef, state = nnx.split(model)
    out, _ = _generate_jit(graphdef, state, jnp.asarray(ids), jnp.asarray(mask),
                           jnp.asarray(np.asarray(stop_tokens, np.int32).reshape(-1)), jax.random.key(seed),
                           jnp.float32(sampling.temperature), jnp.int32(sampling.top_k), jnp.float32(sampling.top_p),
                           jnp.float32(sampling.repetition_penalty), max_new=max_new_tokens, greedy=sampling.greedy,
                           use_cache=use_cache, pad_id=pad_id)
    return np.asarray(out)


@functools.partial(jax.jit, static_argnums=(0,))
def _forward(graphdef, state, ids, positions, mask):
    return nnx.merge(graphdef, state)(ids, positions, mask)[0]


def forward(model: Qwen2, ids, mask=None) -> jax.Array:
    """Logits [B, L, vocab] float32 of a whole (left-padded) batch, positions from the mask."""
    ids = jnp.asarray(ids, jnp.int32)
    mask = jnp.ones(ids.shape, jnp.int32) if mask is None else jnp.asarray(mask, jnp.int32)
    positions = jnp.maximum(jnp.cumsum(mask, axis=1) - 1, 0)
    graphdef, state = nnx.split(model)
    return _forward(graphdef, state, ids, positions, mask)
