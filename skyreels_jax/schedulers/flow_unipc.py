"""Flow UniPC multistep (the original's FlowUniPCMultistepScheduler) as pure functions.

Configuration fixed to the original's: UniP-bh2 predictor of order 2 with the UniC corrector on
x0 predictions (predict_x0), order ramping 1 → 2, lower_order_final (the last step is order 1),
final σ = 0. With v = noise − x0 the model output gives x0 = x_t − σ·v.

Every step is linear in (sample, corrected last sample, the last two x0 predictions), with
weights that depend only on the step index, so `unipc_tables` computes them once on the host in
float64 and `step` gathers them at each frame's counter. At σ = 0 the log-SNR λ is +inf; the
host works it out as exp(−h) = 0 exactly (expm1 = −1), so the last step returns x0 with no NaN.

`df_alias=True` reproduces the reference diffusion-forcing pipelines (the original's and
diffusers'): they write each step's result into the latent tensor in place, and the scheduler
kept a view of its first input as "last sample", so the corrector of every frame's second step
sees the current sample instead of the first one (up to ~0.1 apart on a toy model). The
text/image-to-video pipelines rebind instead, so they need the default (False).

Counters start at index 0 for every frame. (The original looks up its first index by timestep
value and takes the second match when the first timestep repeats, e.g. shift 8 with ≥ 144
steps; it then fails with an assertion on its last step. Here such schedules simply work.)
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from skyreels_jax.schedulers import frames
from skyreels_jax.schedulers.sigmas import flow_sigmas, flow_timesteps


class UniPCState(NamedTuple):
    step: ArrayLike         # int32 [] or [F]: steps taken
    sigmas: ArrayLike       # float32 [n + 1], ending in 0
    timesteps: ArrayLike    # int32 [n]: what the DiT embeds at each step
    predictor: ArrayLike    # float32 [n, 3]: weights of (corrected x, x0_k, x0_{k-1})
    corrector: ArrayLike    # float32 [n, 5]: weights of (x, last x, x0_{k-1}, x0_{k-2}, x0_k)
    last_sample: ArrayLike  # float32 sample: the corrected sample the previous predictor started from
    x0_prev: ArrayLike      # float32 sample: x0 prediction of the previous step
    x0_prev2: ArrayLike     # float32 sample: x0 prediction two steps back


def predictor_orders(n: int) -> list[int]:
    """Order of the predictor at each step: 1 first (warm-up) and last (lower_order_final), else 2."""
    return [1 if k == 0 or k == n - 1 else 2 for k in range(n)]


def unipc_tables(sigmas: np.ndarray, df_alias: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """float64 predictor [n, 3] and corrector [n, 5] weights for sigmas [n + 1] (bh2, predict-x0).

    The corrector at step 0 is the identity on x; df_alias: see the module docstring.
    """
    sig = np.asarray(sigmas, np.float64)
    n = len(sig) - 1
    alpha = 1.0 - sig
    with np.errstate(divide="ignore"):
        lam = np.log(alpha) - np.log(sig)  # +inf where σ = 0
    orders = predictor_orders(n)
    pred, corr = np.zeros((n, 3)), np.zeros((n, 5))
    corr[0, 0] = 1.0
    for k in range(n):
        # UniP from σ_k to σ_{k+1}: x = (σ_{k+1}/σ_k)·x_c − α·φ·x0_k − α·φ·½·(x0_{k-1} − x0_k)/r
        h = lam[k + 1] - lam[k]
        phi, a = np.expm1(-h), alpha[k + 1]  # bh2: B(h) = φ = e^{−h} − 1
        pred[k] = sig[k + 1] / sig[k], -a * phi, 0.0
        if orders[k] == 2:
            c = a * phi * 0.5 / ((lam[k - 1] - lam[k]) / h)
            pred[k, 1:] += c, -c
        if k == 0:
            continue
        # UniC at σ_k, redoing the step from σ_{k-1} with the new x0_k; its order is the last predictor's
        h = lam[k] - lam[k - 1]
        phi, a = np.expm1(-h), alpha[k]
        if orders[k - 1] == 1:
            rho_prev, rho_t, r = 0.0, 0.5, 1.0
        else:
            r = (lam[k - 2] - lam[k - 1]) / h
            g1 = phi / -h - 1.0
            g2 = g1 / -h - 0.5
            rho_prev, rho_t = np.linalg.solve([[1.0, 1.0], [r, 1.0]], [g1 / phi, 2.0 * g2 / phi])
        w = a * phi * rho_prev / r
        corr[k] = 0.0, sig[k] / sig[k - 1], -a * phi * (1.0 - rho_t) + w, -w, -a * phi * rho_t
    if df_alias and n > 1:
        corr[1, :2] = corr[1, 1], 0.0
    return pred, corr


def init_with_sigmas(sigmas: np.ndarray, timesteps: np.ndarray, sample_shape: Sequence[int],
                     per_frame: int | None = None, df_alias: bool = False) -> UniPCState:
    """A host state for any decreasing schedule sigmas [n + 1] (last 0) with DiT timesteps [n]."""
    sig = np.asarray(sigmas, np.float32)
    if sig.ndim != 1 or len(sig) < 2 or len(timesteps) != len(sig) - 1:
        raise ValueError(f"need sigmas [n+1] and timesteps [n], got {sig.shape} and {np.shape(timesteps)}")
    if not (np.all(sig[:-1] > 0) and np.all(sig[:-1] < 1) and sig[-1] >= 0 and np.all(np.diff(sig) < 0)):
        raise ValueError("UniPC needs strictly decreasing sigmas in (0, 1) followed by a final value >= 0")
    pred, corr = unipc_tables(sig, df_alias)
    zeros = np.zeros(tuple(sample_shape), np.float32)
    return UniPCState(frames.counter(per_frame, sample_shape), sig, np.asarray(timesteps, np.int32),
                      pred.astype(np.float32), corr.astype(np.float32), zeros, zeros, zeros)


def init(num_steps: int, shift: float, sample_shape: Sequence[int], per_frame: int | None = None,
         df_alias: bool = False) -> UniPCState:
    """The original's schedule (sigmas.py) for num_steps steps at this shift."""
    return init_with_sigmas(flow_sigmas(num_steps, shift), flow_timesteps(num_steps, shift), sample_shape,
                            per_frame, df_alias)


def step(state: UniPCState, model_output: jax.Array, sample: jax.Array,
         update_mask: Any = None) -> tuple[jax.Array, UniPCState]:
    """Correct, then predict, for the frames in update_mask (all if None); the others are unchanged."""
    frames.check_pair(model_output, sample, state.step)
    if sample.shape != state.last_sample.shape:
        raise ValueError(f"sample {sample.shape} does not match the state's {state.last_sample.shape}")
    n, k, d = state.timesteps.shape[0], state.step, sample.ndim
    go = frames.active(k, n, update_mask)
    kk = jnp.clip(k, 0, n - 1)
    x = sample.astype(jnp.float32)
    x0 = x - frames.expand(state.sigmas[kk], d) * model_output.astype(jnp.float32)
    c = [frames.expand(w, d) for w in state.corrector[kk].T] if k.ndim else list(state.corrector[kk])
    xc = c[0] * x + c[1] * state.last_sample + c[2] * state.x0_prev + c[3] * state.x0_prev2 + c[4] * x0
    p = [frames.expand(w, d) for w in state.predictor[kk].T] if k.ndim else list(state.predictor[kk])
    out = (p[0] * xc + p[1] * x0 + p[2] * state.x0_prev).astype(sample.dtype)
    keep = frames.expand(go, d)
    new = UniPCState(k + go.astype(jnp.int32), state.sigmas, state.timesteps, state.predictor, state.corrector,
                     jnp.where(keep, xc, state.last_sample), jnp.where(keep, x0, state.x0_prev),
                     jnp.where(keep, state.x0_prev, state.x0_prev2))
    return jnp.where(keep, out, sample), new
