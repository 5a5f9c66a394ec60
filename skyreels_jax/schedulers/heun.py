"""Heun's method (FlowMatchHeunDiscreteScheduler): two model evaluations per step.

Step σ → σ': an Euler predictor x̃ = x + (σ' − σ)·v, then the trapezoid
x' = x + (σ' − σ)·(v + ṽ)/2 with ṽ the model at (x̃, σ'). The state counts evaluations, so the
second stage is just the next evaluation, at σ'. A step to σ' = 0 is a single Euler step (the
model is not evaluated at σ = 0), so n steps ending in 0 take 2n − 1 evaluations.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from skyreels_jax.schedulers.linear import Basis, LinearSolver, Tables


@dataclasses.dataclass(frozen=True)
class Heun(LinearSolver):
    history = 2  # the step's start x and its first v
    evals_per_step = 2
    below_one = False

    def tables(self, sigmas: np.ndarray) -> Tables:
        b = Basis(self.history)
        at, step, rows = [], [], []
        for k in range(len(sigmas) - 1):
            s, t = sigmas[k], sigmas[k + 1]
            if t == 0:  # the last step: one Euler evaluation, which lands on x0
                stages = [(k, [b.x0(s), b.zero, b.zero])]
            else:
                stages = [(k, [b.x + (t - s) * b.v, b.x, b.v]),  # Euler predictor; keep x and v
                          (k + 1, [b.h[0] + (t - s) / 2 * (b.h[1] + b.v), b.zero, b.zero])]  # trapezoid, at σ'
            for where, row in stages:
                at.append(where)
                step.append(k)
                rows.append(row)
        return Tables(np.asarray(at), np.asarray(step), np.asarray(rows))
