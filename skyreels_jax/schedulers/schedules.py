"""Sigma schedules, apart from the solvers: float sigmas [n + 1], decreasing, ending in 0.

    s = make_schedule("karras", num_steps=12, shift=8.0)   # Schedule(sigmas float32 [13], timesteps [12])
    state = SCHEDULERS["dpmpp_2m"].init_with_sigmas(*s, latents.shape)

A schedule is a name, a path to a saved schedule (JSON {"sigmas": [...], "note": "..."}), or an
array of sigmas. Every named schedule starts at the original's σ_max (0.999, shifted) so that
every solver, log-SNR ones included, can use it:
- shift: the original's (sigmas.py): linspace(0.999, 0) shifted by s·σ/(1 + (s − 1)·σ), with the
  DiT timesteps truncated to integers as the original does (parity). The default.
- simple: the same sigmas with float timesteps 1000·σ (ComfyUI's "simple" on a shifted model).
- karras (ρ = 7), exponential, beta (α = β = 0.6), kl_optimal: spaced between σ_max and σ_min
  (default: the shifted smallest training σ, 1/1000, as in diffusers' and ComfyUI's flow tables);
  karras, exponential and beta are diffusers' formulas (FlowMatchEulerDiscreteScheduler).
- linear_quadratic (Mochi's, ComfyUI): t = 1 − σ/σ_max rises linearly to `threshold` over the first
  half of the steps, then quadratically to 1 with a continuous slope. It ignores shift.
Only "shift" truncates timesteps; the others give the DiT 1000·σ, which it embeds as floats.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from skyreels_jax.schedulers.sigmas import SIGMA_MAX, flow_sigmas, flow_timesteps, shift_sigmas

NAMES = ("shift", "simple", "karras", "exponential", "beta", "linear_quadratic", "kl_optimal")


class Schedule(NamedTuple):
    sigmas: np.ndarray     # float32 [n + 1], ending in 0
    timesteps: np.ndarray  # [n]: what the DiT embeds (int64 for "shift", else float32 1000·σ)


def validate_sigmas(sigmas: Any, num_steps: int | None = None) -> np.ndarray:
    """float64 sigmas [n + 1]: finite, in (0, 1], strictly decreasing, ending in exactly 0."""
    try:
        sig = np.asarray(sigmas, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"sigmas must be numbers, got {sigmas!r:.80}") from None
    if sig.ndim != 1 or len(sig) < 2:
        raise ValueError(f"sigmas must be a 1-D array [n + 1] with n >= 1, got shape {sig.shape}")
    if num_steps is not None and len(sig) != num_steps + 1:
        raise ValueError(f"the schedule has {len(sig) - 1} steps (sigmas [{len(sig)}]), but num_steps={num_steps}")
    if not np.all(np.isfinite(sig)):
        raise ValueError(f"sigmas must be finite, got NaN or inf at index {int(np.flatnonzero(~np.isfinite(sig))[0])}")
    if sig[-1] != 0:
        raise ValueError(f"sigmas must end in 0 (the clean sample), got last value {sig[-1]:g}")
    if np.any(np.diff(sig) >= 0):
        i = int(np.flatnonzero(np.diff(sig) >= 0)[0])
        raise ValueError(f"sigmas must be strictly decreasing, got {sig[i]:g} then {sig[i + 1]:g} at index {i}")
    if sig[0] > 1:
        raise ValueError(f"flow-matching sigmas lie in [0, 1], got a first value {sig[0]:g}")
    return sig


def karras(n: int, sigma_max: float, sigma_min: float, rho: float = 7.0) -> np.ndarray:
    """n sigmas evenly spaced in σ^(1/ρ) (Karras et al. 2022)."""
    ramp = np.linspace(0.0, 1.0, n)
    return (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho


def exponential(n: int, sigma_max: float, sigma_min: float) -> np.ndarray:
    """n sigmas evenly spaced in log σ."""
    return np.exp(np.linspace(math.log(sigma_max), math.log(sigma_min), n))


def beta(n: int, sigma_max: float, sigma_min: float, alpha: float = 0.6, beta: float = 0.6) -> np.ndarray:
    """n sigmas at the Beta(α, β) quantiles of evenly spaced levels (dense at both ends for α, β < 1)."""
    return sigma_min + np.asarray(_beta_levels(n, alpha, beta)) * (sigma_max - sigma_min)


@functools.lru_cache(maxsize=256)
def _beta_levels(n: int, a: float, b: float) -> tuple:
    """The Beta(a, b) quantiles of n levels from 1 to 0 (about a second of numpy: kept, as sweeps ask again)."""
    return tuple(beta_quantile(1.0 - np.linspace(0.0, 1.0, n), a, b))


def kl_optimal(n: int, sigma_max: float, sigma_min: float) -> np.ndarray:
    """n sigmas evenly spaced in arctan σ (ComfyUI's kl_optimal)."""
    w = np.linspace(0.0, 1.0, n)
    return np.tan((1 - w) * math.atan(sigma_max) + w * math.atan(sigma_min))


def linear_quadratic(n: int, sigma_max: float, threshold: float = 0.025, linear_steps: int | None = None) -> np.ndarray:
    """n sigmas: t = 1 − σ/σ_max linear up to threshold over linear_steps (n // 2), then quadratic to 1."""
    if n == 1:
        return np.asarray([sigma_max])
    lin = n // 2 if linear_steps is None else linear_steps
    if not 0 < lin < n:
        raise ValueError(f"linear_steps must be in [1, {n - 1}] for {n} steps, got {lin}")
    i = np.arange(n, dtype=np.float64)
    slope, rest = threshold / lin, n - lin
    curve = (1.0 - threshold - slope * rest) / rest**2  # t(lin) = threshold, t'(lin) = slope, t(n) = 1
    t = np.where(i < lin, slope * i, threshold + slope * (i - lin) + curve * (i - lin) ** 2)
    return sigma_max * (1.0 - t)


def beta_quantile(p: np.ndarray, a: float, b: float) -> np.ndarray:
    """The Beta(a, b) quantile function, float64, by bisection on the regularised incomplete beta."""
    p = np.asarray(p, np.float64)
    lo, hi = np.zeros_like(p), np.ones_like(p)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = _beta_cdf(mid, a, b) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.where(p <= 0, 0.0, np.where(p >= 1, 1.0, (lo + hi) / 2))


def _beta_cdf(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """I_x(a, b) by its continued fraction (modified Lentz), which converges fast for
    x < (a + 1)/(a + b + 2); above, I_x(a, b) = 1 − I_{1−x}(b, a)."""
    flip = x > (a + 1) / (a + b + 2)
    x, a, b = np.where(flip, 1 - x, x), np.where(flip, b, a), np.where(flip, a, b)
    log_beta = math.lgamma(a.flat[0]) + math.lgamma(b.flat[0]) - math.lgamma(a.flat[0] + b.flat[0])
    with np.errstate(divide="ignore"):
        front = np.exp(a * np.log(x) + b * np.log1p(-x) - log_beta) / a
    def guard(v):
        return np.where(np.abs(v) < 1e-300, 1e-300, v)
    c, d = np.ones_like(x), 1 / guard(1 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 200):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d, c = 1 / guard(1 + num * d), guard(1 + num / c)
            fraction = fraction * c * d
    return np.where(flip, 1 - front * fraction, front * fraction)


def _unknown(name: Any) -> ValueError:
    return ValueError(f"unknown schedule {name!r}: use one of {', '.join(NAMES)}, a path to a .json schedule, "
                      "or an array of sigmas ending in 0")


def schedule_sigmas(name: str, num_steps: int, shift: float = 8.0, **options: Any) -> np.ndarray:
    """float64 sigmas [num_steps + 1] of a named schedule (module docstring). options: sigma_max,
    sigma_min (spaced schedules), rho (karras), alpha, beta (beta), threshold, linear_steps
    (linear_quadratic)."""
    if name not in NAMES:
        raise _unknown(name)
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if not shift > 0:
        raise ValueError(f"shift must be > 0, got {shift!r}")
    n, top = int(num_steps), float(shift_sigmas(SIGMA_MAX, shift))
    try:
        if name in ("shift", "simple"):
            if options:
                raise TypeError(f"it takes no options, got {sorted(options)}")
            body = shift_sigmas(np.linspace(SIGMA_MAX, 0.0, n + 1)[:-1], shift)
        elif name == "linear_quadratic":
            body = linear_quadratic(n, options.pop("sigma_max", top), **options)
        else:
            hi, lo = options.pop("sigma_max", top), options.pop("sigma_min", float(shift_sigmas(1e-3, shift)))
            if not 0 < lo < hi <= 1:
                raise TypeError(f"it needs 0 < sigma_min < sigma_max <= 1, got {lo:g} and {hi:g}")
            builders = {"karras": karras, "exponential": exponential, "beta": beta, "kl_optimal": kl_optimal}
            body = builders[name](n, hi, lo, **options)
    except TypeError as e:
        raise ValueError(f"schedule {name!r}: {e}") from None
    return np.append(body, 0.0)


def load_schedule(path: str | Path) -> np.ndarray:
    """The sigmas of a saved schedule file, validated."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read the schedule file {path}: {e}") from None
    if not isinstance(data, dict) or "sigmas" not in data:
        raise ValueError(f"schedule file {path} must hold a JSON object with a 'sigmas' list")
    return validate_sigmas(data["sigmas"])


def save_schedule(path: str | Path, sigmas: Any, note: str = "") -> None:
    """Write sigmas (validated) as {"sigmas": [...], "note": note}."""
    sig = validate_sigmas(sigmas)
    Path(path).write_text(json.dumps({"sigmas": [float(s) for s in sig], "note": note}, indent=1) + "\n")


def make_schedule(schedule: Any = "shift", num_steps: int | None = None, shift: float = 8.0,
                  **options: Any) -> Schedule:
    """The sigmas and DiT timesteps of a schedule name, file path or array (for a file or an array,
    num_steps, when given, must match its length)."""
    named = isinstance(schedule, str) and schedule in NAMES
    if named and num_steps is None:
        raise ValueError(f"the {schedule!r} schedule needs num_steps")
    if named and schedule == "shift":
        schedule_sigmas(schedule, num_steps, shift, **options)  # checks the arguments
        return Schedule(flow_sigmas(num_steps, shift), flow_timesteps(num_steps, shift))
    if named:
        sig = schedule_sigmas(schedule, num_steps, shift, **options)
    elif isinstance(schedule, (str, Path)):
        if not (str(schedule).endswith(".json") or Path(schedule).is_file()):
            raise _unknown(schedule)
        sig = validate_sigmas(load_schedule(schedule), num_steps)
    else:
        sig = validate_sigmas(schedule, num_steps)
    sig32 = sig.astype(np.float32)
    return Schedule(sig32, (1000.0 * sig32[:-1]).astype(np.float32))
