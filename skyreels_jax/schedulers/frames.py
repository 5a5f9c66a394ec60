"""Per-frame bookkeeping shared by the schedulers.

A scheduler state holds a step counter `step`: a scalar (one schedule for the whole sample) or
an int32 [F] vector (one schedule per latent frame, frame axis 1 of a [B, F, H, W, C] sample,
as diffusion forcing needs). Per-step tables are gathered at each frame's own counter and
broadcast over that frame; frames outside `update_mask`, or already finished, are untouched.

`init` builds a state on the host (numpy); `step` is jit-able and returns jax arrays. A caller that
runs under a mesh puts the state on its devices first (the pipelines use parallel.placement).
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def counter(per_frame: int | None, sample_shape: Sequence[int]) -> np.ndarray:
    """A zero step counter: [] or [F], after checking that sample_shape has F frames on axis 1."""
    if per_frame is None:
        return np.zeros((), np.int32)
    if int(per_frame) != per_frame or per_frame < 1:
        raise ValueError(f"per_frame must be a positive frame count or None, got {per_frame!r}")
    if len(sample_shape) < 2 or sample_shape[1] != per_frame:
        raise ValueError(f"per_frame={per_frame} needs a sample shaped [B, F={per_frame}, ...] "
                         f"(frames on axis 1), got sample_shape {tuple(sample_shape)}")
    return np.zeros(int(per_frame), np.int32)


def expand(values: jax.Array, ndim: int) -> jax.Array:
    """Reshape per-frame values [F] to [1, F, 1, ...] so they broadcast over a sample of rank ndim."""
    if values.ndim == 0:
        return values
    return values.reshape((1, values.shape[0]) + (1,) * (ndim - 2))


def active(step: jax.Array, num_steps: int, update_mask: Any) -> jax.Array:
    """Frames that advance this call: in update_mask (all if None) and not yet finished."""
    todo = step < num_steps
    if update_mask is None:
        return todo
    mask = jnp.asarray(update_mask)
    if mask.shape != step.shape or mask.dtype != jnp.bool_:
        raise ValueError(f"update_mask must be bool with shape {step.shape} (one entry per frame), "
                         f"got {mask.dtype} {mask.shape}")
    return todo & mask


def check_pair(model_output: jax.Array, sample: jax.Array, step: jax.Array) -> None:
    """Shapes are static, so these checks also run (once) under jit."""
    if model_output.shape != sample.shape:
        raise ValueError(f"model_output {model_output.shape} and sample {sample.shape} must have the same shape")
    if step.ndim and (sample.ndim < 2 or sample.shape[1] != step.shape[0]):
        raise ValueError(f"this state has {step.shape[0]} frames, but the sample {sample.shape} "
                         f"has not as many on axis 1")


def current_timesteps(state: Any) -> jax.Array:
    """The integer timestep each frame's next step is at ([] or [F]); 0 once a frame is finished."""
    n = state.timesteps.shape[0]
    t = state.timesteps[jnp.clip(state.step, 0, n - 1)]
    return jnp.where(state.step < n, t, 0)


def finished(state: Any) -> jax.Array:
    """True where a frame (or the whole sample) has taken all its steps."""
    return state.step >= state.timesteps.shape[0]
