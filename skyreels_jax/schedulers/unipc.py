"""UniPC multistep of any order 1-3, B(h) variant bh1 or bh2 (UniPCMultistepScheduler, predict-x0).

At step k the UniC corrector first redoes the previous step with the new x0 prediction, then
the UniP predictor steps from the corrected sample (Zhao et al. 2023; diffusers' formulas):
    x' = (σ'/σ)·x_c − α'·φ·x0_k − α'·B(h)·Σ_i ρ_i·(x0_{k−i} − x0_k)/r_i,  φ = e^{−h} − 1,
with B(h) = −h (bh1) or φ (bh2), r_i the λ-gaps in units of h, and ρ from the order conditions.
Orders ramp up 1, 2, …, and with lower_order_final the last steps ramp down (min(order, n − k)).

The default "unipc" of SCHEDULERS stays flow_unipc (bh2, order 2), bit-identical to the port of
the original; this is the general one, equal to it within float32 rounding at bh2, order 2.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from skyreels_jax.schedulers.linear import Basis, LinearSolver, Tables, log_snr, per_step


def _conditions(r: np.ndarray, hh: float, bh: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """The order conditions R·ρ = b of UniPC (R[i] = r**i; b from the φ_k functions of hh = −h)."""
    b, phi_k, factorial = [], np.expm1(hh) / hh - 1, 1
    for i in range(1, order + 1):
        b.append(phi_k * factorial / bh)
        factorial *= i + 1
        phi_k = phi_k / hh - 1 / factorial
    return np.stack([r ** i for i in range(order)]), np.asarray(b)


@dataclasses.dataclass(frozen=True)
class UniPC(LinearSolver):
    order: int = 2
    variant: str = "bh2"
    lower_order_final: bool = True
    df_alias: bool = False  # see flow_unipc: the reference DF pipelines' in-place writes

    def __post_init__(self):
        if self.order not in (1, 2, 3) or self.variant not in ("bh1", "bh2"):
            raise ValueError(f"UniPC takes order 1-3 and variant 'bh1' or 'bh2', got {self}")

    @property
    def history(self) -> int:
        return 1 + self.order  # the corrected sample, then past x0 predictions

    def _b(self, hh: float) -> float:
        return hh if self.variant == "bh1" else np.expm1(hh)

    def tables(self, sigmas: np.ndarray) -> Tables:
        b, lam, n = Basis(self.history), log_snr(sigmas), len(sigmas) - 1
        orders = [min(self.order, k + 1, n - k if self.lower_order_final else self.order) for k in range(n)]
        rows = []
        for k in range(n):
            s, t = sigmas[k], sigmas[k + 1]
            x0 = b.x0(s)
            past = b.h[1:]  # x0_{k-1}, x0_{k-2}, ...
            xc = b.x if k == 0 else self._correct(b, lam, sigmas, k, orders[k - 1], x0, past)
            if t == 0:
                out = x0
            else:
                out = self._predict(lam, sigmas, k, orders[k], xc, x0, past)
            rows.append([out, xc, x0, *past[:-1]])
        return per_step(rows)

    def _predict(self, lam, sigmas, k, order, xc, x0, past):
        """UniP from σ_k to σ_{k+1}, starting at the corrected sample xc."""
        h = lam[k + 1] - lam[k]
        hh, alpha = -h, 1 - sigmas[k + 1]
        out = sigmas[k + 1] / sigmas[k] * xc - alpha * np.expm1(hh) * x0
        if order == 1:
            return out
        r = np.asarray([(lam[k - i] - lam[k]) / h for i in range(1, order)])
        if order == 2:
            rhos = [0.5]
        else:
            R, rhs = _conditions(np.append(r, 1.0), hh, self._b(hh), order)
            rhos = np.linalg.solve(R[:-1, :-1], rhs[:-1])
        return out - alpha * self._b(hh) * sum(rho * (m - x0) / ri for rho, m, ri in zip(rhos, past, r))

    def _correct(self, b, lam, sigmas, k, order, x0, past):
        """UniC at σ_k: the step from σ_{k-1} again, with the new x0_k (its order is that predictor's)."""
        h = lam[k] - lam[k - 1]
        hh, alpha = -h, 1 - sigmas[k]
        m0, last = past[0], (b.x if self.df_alias and k == 1 else b.h[0])
        r = np.asarray([(lam[k - 1 - i] - lam[k - 1]) / h for i in range(1, order)])
        rhos = [0.5] if order == 1 else np.linalg.solve(*_conditions(np.append(r, 1.0), hh, self._b(hh), order))
        res = sum(rho * (m - m0) / ri for rho, m, ri in zip(rhos[:-1], past[1:], r)) + rhos[-1] * (x0 - m0)
        return sigmas[k] / sigmas[k - 1] * last - alpha * np.expm1(hh) * m0 - alpha * self._b(hh) * res
