"""The original's flow-matching schedule: sigmas and the integer timesteps the DiT embeds.

The original (FlowUniPCMultistepScheduler built with shift=1, then set_timesteps(n, shift=...))
spaces n sigmas linearly from sigma_max to 0, where sigma_max is the float32 value of 0.999
read back as a Python float (0.9990000128746033, not 0.999: the two give different sigmas or
timesteps for most (n, shift) pairs), then shifts them in float64:
    s' = shift·s / (1 + (shift−1)·s).
Timesteps are int64(s'·1000), truncated; sigmas are float32(s' ++ [0]).
"""
from __future__ import annotations

import numpy as np

SIGMA_MAX = float(np.float32(0.999))  # 0.9990000128746033, the original's sigma_max


def shift_sigmas(sigmas: np.ndarray, shift: float) -> np.ndarray:
    """The timestep shift s·σ/(1+(s−1)·σ), in float64."""
    s = np.asarray(sigmas, np.float64)
    return shift * s / (1.0 + (shift - 1.0) * s)


def _check(num_steps: int, shift: float) -> None:
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if not shift > 0:
        raise ValueError(f"shift must be > 0, got {shift!r}")


def _shifted(num_steps: int, shift: float) -> np.ndarray:
    _check(num_steps, shift)
    return shift_sigmas(np.linspace(SIGMA_MAX, 0.0, int(num_steps) + 1)[:-1], shift)


def flow_sigmas(num_steps: int, shift: float) -> np.ndarray:
    """float32 [num_steps + 1]: the shifted sigmas followed by a final 0."""
    return np.append(_shifted(num_steps, shift), 0.0).astype(np.float32)


def flow_timesteps(num_steps: int, shift: float) -> np.ndarray:
    """int64 [num_steps]: truncated shifted sigmas × 1000 (shift 8, 30 steps: 999, 995, …, 216)."""
    return (_shifted(num_steps, shift) * 1000.0).astype(np.int64)
