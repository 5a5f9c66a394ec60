"""What every solver offers, and what a sampling loop asks of a solver's state.

A solver (a value of SCHEDULERS) has
    init_with_sigmas(sigmas [n + 1], timesteps [n], sample_shape, per_frame=None, *, key=None) -> state
    init(num_steps, shift, sample_shape, per_frame=None, *, key=None)  # the original's schedule
    step(state, model_output, sample, update_mask=None) -> (sample, state)  # one model evaluation
    evaluations(sigmas) -> (σ [E], step [E]): where each model evaluation happens, and its step
    evals_per_step (1, or 2 for Heun), stochastic (draws keyed noise)
and the loop is: evaluate the model at timesteps_of(state), call step, E = nfe(solver, sigmas)
times. States count evaluations, one counter per latent frame with per_frame=F (diffusion
forcing; update_mask [F] picks the frames that advance).
"""
from __future__ import annotations

import dataclasses
import types
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from skyreels_jax.schedulers.guidance import Guidance, needs_uncond
from skyreels_jax.schedulers.sigmas import flow_sigmas


@dataclasses.dataclass(frozen=True)
class Original:
    """flow_unipc or flow_euler (the port of the original's solver, and its Euler twin) behind the
    common interface; their states and results are unchanged. flow_unipc takes df_alias=."""
    module: types.ModuleType
    evals_per_step = 1
    stochastic = False

    def init_with_sigmas(self, sigmas: Any, timesteps: Any, sample_shape: Sequence[int],
                         per_frame: int | None = None, *, key: Any = None, **options: Any):
        state = self.module.init_with_sigmas(sigmas, timesteps, sample_shape, per_frame, **options)
        if not np.issubdtype(np.asarray(timesteps).dtype, np.integer):  # the modules store int32 ones
            state = state._replace(timesteps=jax.device_put(np.asarray(timesteps, np.float32)))
        return state

    def init(self, num_steps: int, shift: float, sample_shape: Sequence[int], per_frame: int | None = None,
             *, key: Any = None, **options: Any):
        return self.module.init(num_steps, shift, sample_shape, per_frame, **options)

    def step(self, state, model_output, sample, update_mask=None):
        return self.module.step(state, model_output, sample, update_mask)

    def evaluations(self, sigmas: Any) -> tuple[np.ndarray, np.ndarray]:
        sig = np.asarray(sigmas, np.float64)
        return sig[:-1], np.arange(len(sig) - 1)


def sigmas_of(state: Any) -> jax.Array:
    """σ of each frame's next model evaluation ([] or [F]); 0 once a frame is finished."""
    n = state.timesteps.shape[0]
    return jnp.where(state.step < n, state.sigmas[jnp.clip(state.step, 0, n - 1)], 0.0)


def timesteps_of(state: Any) -> jax.Array:
    """The DiT timestep (float32) of each frame's next model evaluation; 0 once finished."""
    n = state.timesteps.shape[0]
    return jnp.where(state.step < n, state.timesteps[jnp.clip(state.step, 0, n - 1)].astype(jnp.float32), 0.0)


def step_index(state: Any) -> jax.Array:
    """The solver step each frame's next evaluation belongs to (Heun: two evaluations a step)."""
    table = getattr(state, "eval_step", None)
    if table is None:
        return state.step
    n = table.shape[0]
    return jnp.where(state.step < n, table[jnp.clip(state.step, 0, n - 1)], table[-1] + 1)


def nfe(solver: Any, schedule: Any, guidance: Guidance | None = None) -> int:
    """Model forwards for one sample: one per evaluation, plus one per evaluation where guidance
    needs the unconditional pass. schedule: sigmas [n + 1], or a step count n (ending in 0)."""
    if isinstance(schedule, (int, np.integer)):
        if guidance is not None:
            raise ValueError("counting guidance passes needs the sigmas, not a step count")
        schedule = flow_sigmas(schedule, 1.0)
    at, steps = solver.evaluations(schedule)
    if guidance is None:
        return len(at)
    return len(at) + sum(bool(needs_uncond(guidance, s, k)) for s, k in zip(at, steps))
