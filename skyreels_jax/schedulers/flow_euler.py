"""Flow-matching Euler as pure functions: x ← x + (σ_next − σ)·v, with v = noise − x0.

Matches diffusers' FlowMatchEulerDiscreteScheduler step (float32 sample and Δσ) on the
original's sigmas. The state may carry one counter per latent frame (see frames.py).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from skyreels_jax.schedulers import frames
from skyreels_jax.schedulers.sigmas import flow_sigmas, flow_timesteps


class EulerState(NamedTuple):
    step: ArrayLike       # int32 [] or [F]: steps taken
    sigmas: ArrayLike     # float32 [n + 1], ending in 0
    timesteps: ArrayLike  # int32 [n]: what the DiT embeds at each step
    dsigma: ArrayLike     # float32 [n]: σ[k+1] − σ[k]


def init_with_sigmas(sigmas: np.ndarray, timesteps: np.ndarray, sample_shape: Sequence[int],
                     per_frame: int | None = None) -> EulerState:
    """A host state for any decreasing schedule sigmas [n + 1] (last 0) with DiT timesteps [n]."""
    sig = np.asarray(sigmas, np.float32)
    if sig.ndim != 1 or len(sig) < 2 or len(timesteps) != len(sig) - 1:
        raise ValueError(f"need sigmas [n+1] and timesteps [n], got {sig.shape} and {np.shape(timesteps)}")
    return EulerState(frames.counter(per_frame, sample_shape), sig, np.asarray(timesteps, np.int32),
                      sig[1:] - sig[:-1])


def init(num_steps: int, shift: float, sample_shape: Sequence[int], per_frame: int | None = None) -> EulerState:
    """The original's schedule (sigmas.py) for num_steps steps at this shift."""
    return init_with_sigmas(flow_sigmas(num_steps, shift), flow_timesteps(num_steps, shift), sample_shape, per_frame)


def step(state: EulerState, model_output: jax.Array, sample: jax.Array,
         update_mask: Any = None) -> tuple[jax.Array, EulerState]:
    """One Euler step for the frames in update_mask (all if None); the others are returned unchanged."""
    frames.check_pair(model_output, sample, state.step)
    n = state.dsigma.shape[0]
    go = frames.active(state.step, n, update_mask)
    dt = frames.expand(state.dsigma[jnp.clip(state.step, 0, n - 1)], sample.ndim)
    out = (sample.astype(jnp.float32) + dt * model_output.astype(jnp.float32)).astype(sample.dtype)
    out = jnp.where(frames.expand(go, sample.ndim), out, sample)
    return out, state._replace(step=state.step + go.astype(jnp.int32))
