"""Observed order of convergence of every deterministic solver on a flow with a closed-form solution.

Data x0 ~ N(μ, s²) per element: the marginal at σ is N((1 − σ)μ, V(σ)), V = (1 − σ)²s² + σ², the
exact velocity is v(x, σ) = −μ + V'(σ)/(2V(σ))·(x − (1 − σ)μ), and the flow keeps the standardised
z = (x − (1 − σ)μ)/√V fixed. Each solver integrates σ = 0.9 → 0.1 (evenly spaced, float32) with
n = 8 … 32 steps; the order is the slope of log RMS error against log n.

The interval stops at 0.1: a last step to σ = 0 returns x0 = x − σ·v, whose error is O(σ²) for any
solver, which would hide every order above 2. Expected global orders, with each solver's warm-up:
Euler 1, Heun 2, DPM-Solver++(2M) 2; DPM-Solver++(3M) and DEIS-3 are third order once warmed up but
their first-order first step bounds the global order at 2 (slopes 2.1-2.4 at these n, falling
towards 2 in float64 up to n = 256); UniPC-p has order p + 1 thanks to the corrector for p = 1, 2,
and 3 for p = 3 (its corrected first-order start; 3.5-3.7 measured here, the bound shows late);
the original's UniPC lowers its last step to order 1 (lower_order_final), so 2.
Measured slopes lie in [p − 0.25, p + 0.75], the band asserted.
"""
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.schedulers import DEIS, SCHEDULERS, DPMSolverPP, Heun, UniPC, nfe, sigmas_of

SHAPE = (1, 2, 4, 4, 4)
STEPS = [8, 12, 16, 24, 32]
_rng = np.random.default_rng(0)
MU, SD, Z = _rng.normal(size=SHAPE), _rng.uniform(0.2, 1.5, size=SHAPE), _rng.normal(size=SHAPE)


def variance(s):
    return (1 - s) ** 2 * SD**2 + s**2


def velocity(x, s):
    return -MU + (s - (1 - s) * SD**2) / variance(s) * (x - (1 - s) * MU)


def rms_error(solver, n: int) -> float:
    sigmas = np.linspace(0.9, 0.1, n + 1)
    state = solver.init_with_sigmas(sigmas, 1000 * sigmas[:-1], SHAPE)
    x = jnp.asarray((1 - sigmas[0]) * MU + np.sqrt(variance(sigmas[0])) * Z, jnp.float32)
    for _ in range(nfe(solver, sigmas)):
        v = velocity(np.asarray(x, np.float64), float(sigmas_of(state)))
        x, state = solver.step(state, jnp.asarray(v, jnp.float32), x)
    exact = (1 - sigmas[-1]) * MU + np.sqrt(variance(sigmas[-1])) * Z
    return float(np.sqrt(np.mean((np.asarray(x, np.float64) - exact) ** 2)))


CASES = {
    "euler": (SCHEDULERS["euler"], 1),
    "heun": (Heun(), 2),
    "dpmpp_2m": (DPMSolverPP(2, lower_order_final=False), 2),
    "dpmpp_3m": (DPMSolverPP(3, lower_order_final=False), 2),
    "deis": (DEIS(3, lower_order_final=False), 2),
    "unipc (original)": (SCHEDULERS["unipc"], 2),
    **{f"unipc-{p} {v}": (UniPC(p, v, lower_order_final=False), min(p + 1, 3)) for p in (1, 2, 3)
       for v in ("bh1", "bh2")},
}


@pytest.mark.parametrize("name", CASES)
def test_observed_order(name):
    solver, order = CASES[name]
    errors = [rms_error(solver, n) for n in STEPS]
    slope = -np.polyfit(np.log(STEPS), np.log(errors), 1)[0]
    assert order - 0.25 <= slope <= order + 0.75, (slope, errors)
