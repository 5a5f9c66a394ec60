"""The engine behind the solvers: each model evaluation updates the sample linearly.

Flow matching: x_σ = (1 − σ)·x0 + σ·noise, the model gives v = noise − x0, so x0 = x − σ·v.
Heun, DPM-Solver++ (ODE and SDE), UniPC, DEIS, LCM and Euler ancestral (like Euler) all compute
the new sample, and every history buffer they keep, as a fixed linear combination of the sources
    x (the sample the model saw), v (its output), the history buffers, fresh noise,
with weights that depend only on the schedule and the evaluation's index. So a solver is a host
function that tabulates those weights once, in float64 (`Tables`), and `step` gathers the row at
each frame's own counter and combines in float32. Per-frame schedules (diffusion forcing) and
multi-stage solvers (the counter counts model evaluations, not steps) need nothing more.

Noise is keyed: frame f at evaluation e draws normal(fold_in(fold_in(key, f), e)) in per-frame
states and normal(fold_in(key, e)) otherwise, so a frame run alone with key fold_in(key, f)
gets the same noise, and a run is reproducible from its key.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from skyreels_jax.schedulers import frames
from skyreels_jax.schedulers.sigmas import flow_sigmas, flow_timesteps


class Tables(NamedTuple):
    """What a solver tabulates on the host for one schedule with E model evaluations."""
    at: np.ndarray       # int [E]: index into the schedule's sigmas where each evaluation happens
    step: np.ndarray     # int [E]: the solver step each evaluation belongs to
    weights: np.ndarray  # float64 [E, 1 + K, S]: rows (new sample, new history 0..K-1) over the sources


def per_step(rows: list) -> Tables:
    """Tables of a solver that evaluates the model once per step, at the step's start."""
    n = len(rows)
    return Tables(np.arange(n), np.arange(n), np.asarray(rows))


class Basis:
    """Unit vectors over the sources (x, v, history 0..K-1[, noise]): the weights' algebra."""

    def __init__(self, history: int, noise: bool = False):
        eye = np.eye(2 + history + int(noise))
        self.x, self.v, self.h = eye[0], eye[1], list(eye[2:2 + history])
        self.noise = eye[-1] if noise else None
        self.zero = np.zeros(len(eye))

    def x0(self, sigma: float) -> np.ndarray:
        return self.x - sigma * self.v


class LinearState(NamedTuple):
    step: jax.Array       # int32 [] or [F]: model evaluations taken
    sigmas: jax.Array     # float32 [E]: σ at each evaluation
    timesteps: jax.Array  # float32 [E]: what the DiT embeds at each evaluation
    eval_step: jax.Array  # int32 [E]: the solver step each evaluation belongs to
    weights: jax.Array    # float32 [E, 1 + K, S]
    history: tuple        # K float32 buffers shaped like the sample
    key: jax.Array        # PRNG key of the noise (unused by deterministic solvers)


def log_snr(sigmas: np.ndarray) -> np.ndarray:
    """λ = log((1 − σ)/σ) in float64; +inf at σ = 0."""
    s = np.asarray(sigmas, np.float64)
    with np.errstate(divide="ignore"):
        return np.log1p(-s) - np.log(s)


def check_sigmas(sigmas: Any, timesteps: Any, below_one: bool) -> np.ndarray:
    """float64 sigmas [n + 1]: finite, strictly decreasing, in (0, 1] (or (0, 1)), then a last value >= 0."""
    sig = np.asarray(sigmas, np.float64)
    if sig.ndim != 1 or len(sig) < 2 or np.shape(timesteps) != (len(sig) - 1,):
        raise ValueError(f"need sigmas [n+1] and timesteps [n], got {sig.shape} and {np.shape(timesteps)}")
    top = "< 1 (λ = log((1-σ)/σ) is -inf at 1)" if below_one else "<= 1"
    ok_top = np.all(sig < 1) if below_one else np.all(sig <= 1)
    if not (np.all(np.isfinite(sig)) and np.all(np.diff(sig) < 0) and sig[-2] > 0 and sig[-1] >= 0 and ok_top):
        raise ValueError(f"this solver needs finite, strictly decreasing sigmas {top}, positive but for a last "
                         f"value >= 0; got {np.array2string(sig, precision=4, threshold=8, max_line_width=10**4)}")
    return sig


class LinearSolver:
    """Base of the tabulated solvers. A subclass is a frozen dataclass of its options and defines
    `tables(sigmas float64 [n + 1]) -> Tables` and `history` (K); `stochastic` and
    `evals_per_step` default to False and 1."""

    stochastic = False
    evals_per_step = 1
    below_one = True  # log-SNR solvers need σ < 1

    def tables(self, sigmas: np.ndarray) -> Tables:
        raise NotImplementedError

    def evaluations(self, sigmas: Any) -> tuple[np.ndarray, np.ndarray]:
        """(σ of each model evaluation, the solver step it belongs to), in order."""
        sig = np.asarray(sigmas, np.float64)
        t = self.tables(sig)
        return sig[t.at], t.step

    def init_with_sigmas(self, sigmas: Any, timesteps: Any, sample_shape: Sequence[int],
                         per_frame: int | None = None, *, key: Any = None) -> LinearState:
        """A state for the schedule sigmas [n + 1] whose DiT timesteps are timesteps [n]."""
        sig = check_sigmas(sigmas, timesteps, self.below_one)
        t = self.tables(sig)
        ts = np.append(np.asarray(timesteps, np.float64), 1000.0 * sig[-1])  # a stage may evaluate at the end
        zeros = tuple(jax.device_put(np.zeros(tuple(sample_shape), np.float32)) for _ in range(t.weights.shape[1] - 1))
        key = jax.device_put(np.zeros(2, np.uint32)) if key is None else key  # PRNGKey(0), without compiling
        def put(a, dtype):
            return jax.device_put(np.asarray(a, dtype))
        return LinearState(frames.counter(per_frame, sample_shape), put(sig[t.at], np.float32),
                           put(ts[t.at], np.float32), put(t.step, np.int32), put(t.weights, np.float32), zeros, key)

    def init(self, num_steps: int, shift: float, sample_shape: Sequence[int], per_frame: int | None = None,
             *, key: Any = None) -> LinearState:
        """The original's schedule (sigmas.py) for num_steps steps at this shift."""
        return self.init_with_sigmas(flow_sigmas(num_steps, shift), flow_timesteps(num_steps, shift), sample_shape,
                                     per_frame, key=key)

    def step(self, state: LinearState, model_output: jax.Array, sample: jax.Array,
             update_mask: Any = None) -> tuple[jax.Array, LinearState]:
        """One model evaluation's update for the frames in update_mask (all if None); others unchanged."""
        frames.check_pair(model_output, sample, state.step)
        if state.history and sample.shape != state.history[0].shape:
            raise ValueError(f"sample {sample.shape} does not match the state's {state.history[0].shape}")
        n, d = state.weights.shape[0], sample.ndim
        go = frames.active(state.step, n, update_mask)
        w = state.weights[jnp.clip(state.step, 0, n - 1)]  # [1 + K, S] or [F, 1 + K, S]
        sources = [sample.astype(jnp.float32), model_output.astype(jnp.float32), *state.history]
        if self.stochastic:
            sources.append(step_noise(state, sample.shape))

        def row(r):
            return sum(frames.expand(w[..., r, j], d) * s for j, s in enumerate(sources))

        keep = frames.expand(go, d)
        history = tuple(jnp.where(keep, row(1 + i), h) for i, h in enumerate(state.history))
        out = jnp.where(keep, row(0).astype(sample.dtype), sample)
        return out, state._replace(step=state.step + go.astype(jnp.int32), history=history)


def step_noise(state: LinearState, shape: Sequence[int]) -> jax.Array:
    """The standard normal noise the next step of a stochastic solver draws (see the module docstring)."""
    if state.step.ndim == 0:
        return jax.random.normal(jax.random.fold_in(state.key, state.step), shape, jnp.float32)
    one = (shape[0], 1, *shape[2:])
    def draw(f, e):
        return jax.random.normal(jax.random.fold_in(jax.random.fold_in(state.key, f), e), one, jnp.float32)
    noise = jax.vmap(draw)(jnp.arange(state.step.shape[0]), state.step)  # [F, B, 1, ...]
    return jnp.moveaxis(noise[:, :, 0], 0, 1)
