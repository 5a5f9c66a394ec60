"""Stochastic one-step samplers that predict x0, then re-noise to the next σ with keyed noise.

- EulerAncestral (the rectified-flow variant of k-diffusion's, as ComfyUI and diffusers'
  LTXEulerAncestralRFScheduler have it): an Euler step down to σ_d = σ'·(1 + (σ'/σ − 1)·η),
  then rescale by (1 − σ')/(1 − σ_d) and add the noise that brings the noise level back to σ'.
  η = 0 is plain Euler; η = 1 (default) steps down to σ'²/σ.
- LCM (for distilled few-step models; FlowMatchLCMScheduler): x' = (1 − σ')·x0 + σ'·noise.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from skyreels_jax.schedulers.linear import Basis, LinearSolver, Tables, per_step


@dataclasses.dataclass(frozen=True)
class EulerAncestral(LinearSolver):
    eta: float = 1.0
    history = 0
    stochastic = True
    below_one = False

    def __post_init__(self):
        if not 0 <= self.eta <= 1:
            raise ValueError(f"Euler ancestral takes eta in [0, 1], got {self.eta!r}")

    def tables(self, sigmas: np.ndarray) -> Tables:
        b, rows = Basis(0, noise=True), []
        for s, t in zip(sigmas[:-1], sigmas[1:]):
            if t == 0:
                rows.append([b.x0(s)])
                continue
            down = t * (1 + (t / s - 1) * self.eta)
            ratio = (1 - t) / (1 - down)
            renoise = np.sqrt(max(t * t - (down * ratio) ** 2, 0.0))
            rows.append([ratio * (b.x + (down - s) * b.v) + renoise * b.noise])
        return per_step(rows)


@dataclasses.dataclass(frozen=True)
class LCM(LinearSolver):
    history = 0
    stochastic = True
    below_one = False

    def tables(self, sigmas: np.ndarray) -> Tables:
        b = Basis(0, noise=True)
        rows = [[(1 - t) * b.x0(s) + t * b.noise] for s, t in zip(sigmas[:-1], sigmas[1:])]
        return per_step(rows)
