"""The schedule search: for one model, solver and NFE, the sigmas that minimise the error against
the many-step reference on a few calibration seeds (prompts), found gradient-free.

    result = search_schedule(runner, "euler", nfe=8, seeds=range(4))
    save_schedule("euler8.json", result.sigmas, note=...)        # then --schedule euler8.json

The schedule keeps the named schedules' ends (σ_max of the model's shift, then 0) and moves the
n − 1 values between them: they are the cumulative sums of softmax(θ)·σ_max, so any θ gives a
valid, strictly decreasing schedule, and Nelder–Mead searches θ from the best named schedule. Only
the t2v mode's single ODE has a schedule-independent reference; in df mode each schedule defines
its own process, so there is nothing to search against.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from skyreels_jax.lab.sweep import Runner, steps_for
from skyreels_jax.schedulers import make_schedule

CANDIDATES = ("shift", "simple", "karras", "exponential", "beta", "linear_quadratic", "kl_optimal")


@dataclasses.dataclass(frozen=True)
class SearchResult:
    sigmas: np.ndarray  # float64 [n + 1], the found schedule
    loss: float         # its mean latent RMSE on the calibration seeds
    start: str          # the best named schedule on the calibration seeds
    start_loss: float
    evaluations: int    # objective evaluations (each a run per calibration seed)


def to_logits(sigmas: np.ndarray) -> np.ndarray:
    """θ [n] whose softmax are the schedule's decrements over σ_max (the inverse of from_logits)."""
    steps = -np.diff(np.asarray(sigmas, np.float64))
    return np.log(steps / steps.sum())


def from_logits(theta: np.ndarray, sigma_max: float) -> np.ndarray:
    """sigmas [n + 1] from σ_max down to exactly 0."""
    w = np.exp(theta - np.max(theta))
    w = w / w.sum()
    sig = sigma_max * (1.0 - np.concatenate([[0.0], np.cumsum(w)]))
    sig[-1] = 0.0
    return sig


def rmse(runner: Runner, scheduler: str, schedule, steps: int, seeds: Sequence[int]) -> float:
    """Mean latent RMSE over seeds of one schedule (a name or sigmas) against the references."""
    errs = []
    for seed in seeds:
        ref, _ = runner.reference("simple", seed)
        z = runner.latents(scheduler, schedule, steps, seed)
        errs.append(float(np.sqrt(np.mean((z - ref) ** 2))))
    return float(np.mean(errs))


def best_named(runner: Runner, scheduler: str, steps: int, seeds: Sequence[int],
               names: Sequence[str] = CANDIDATES) -> tuple[str, float]:
    """(name, mean RMSE) of the best named schedule for this solver and step count on seeds."""
    losses = {}
    for name in names:
        try:
            losses[name] = rmse(runner, scheduler, name, steps, seeds)
        except ValueError:  # a schedule this solver cannot use (e.g. a log-SNR solver at σ = 1)
            continue
    best = min(losses, key=losses.get)
    return best, losses[best]


def search_schedule(runner: Runner, scheduler: str, nfe: int, seeds: Sequence[int], iterations: int = 150,
                    progress: bool = True) -> SearchResult:
    """Nelder–Mead over θ from the best named schedule; returns the best schedule it saw."""
    from scipy.optimize import minimize

    if runner.sweep.mode != "t2v":
        raise ValueError("the schedule search runs in t2v mode (one reference ODE for every schedule)")
    steps = steps_for(scheduler, "shift", nfe, runner.shift)
    start, start_loss = best_named(runner, scheduler, steps, seeds)
    init = make_schedule(start, steps, runner.shift).sigmas.astype(np.float64)
    sigma_max = float(init[0])
    seen = {"loss": start_loss, "sigmas": init, "count": 0}
    bar = tqdm(total=iterations, desc=f"search {scheduler} NFE {nfe}", disable=not progress)

    def objective(theta):
        sig = from_logits(theta, sigma_max)
        if np.any(np.diff(sig) >= 0) or sig[-2] <= 1e-4:  # collapsed steps: not a schedule worth trying
            return 10.0
        loss = rmse(runner, scheduler, sig.astype(np.float32).astype(np.float64), steps, seeds)
        seen["count"] += 1
        bar.update(1)
        if loss < seen["loss"]:
            seen.update(loss=loss, sigmas=sig)
            bar.set_postfix(rmse=f"{loss:.4f}", start=f"{start_loss:.4f}")
        return loss

    minimize(objective, to_logits(init), method="Nelder-Mead",
             options=dict(maxfev=iterations, initial_simplex=_simplex(to_logits(init)), xatol=1e-3, fatol=1e-5))
    bar.close()
    return SearchResult(np.asarray(seen["sigmas"]), seen["loss"], start, start_loss, seen["count"])


def _simplex(theta: np.ndarray, size: float = 0.4) -> np.ndarray:
    """The first simplex: θ and θ moved by ±size along each axis (alternating), so each step length
    starts about 50% longer or shorter."""
    out = [theta]
    for i in range(len(theta)):
        t = theta.copy()
        t[i] += size if i % 2 == 0 else -size
        out.append(t)
    return np.stack(out)
