"""DEIS multistep, log-ρ variant (DEISMultistepScheduler with flow sigmas), orders 1-3.

With ρ = σ/α (α = 1 − σ) the flow ODE is d(x/α)/dρ = ε, ε = x + α·v the noise prediction. DEIS
interpolates ε through the last p steps with a polynomial in log ρ and integrates it exactly:
    x' = α'·(x/α + Σ_j c_j·ε_{k−j}),  c_j = ∫_{ρ}^{ρ'} ℓ_j(log ρ) dρ,
ℓ_j the Lagrange basis. For a polynomial p, ∫ p(L)·e^L dL = e^L·(p − p' + p'' − …). Orders ramp
up as in DPM-Solver++ (dpm.multistep_orders); a step to σ = 0 returns x0.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from numpy.polynomial import Polynomial

from skyreels_jax.schedulers.dpm import multistep_orders
from skyreels_jax.schedulers.linear import Basis, LinearSolver, Tables, per_step


def lagrange_integrals(nodes: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """∫_{e^lo}^{e^hi} ℓ_j(log ρ) dρ for each Lagrange basis polynomial ℓ_j over the nodes (log ρ)."""
    out = []
    for j, node in enumerate(nodes):
        basis = Polynomial([1.0])
        for other in np.delete(nodes, j):
            basis = basis * Polynomial([-other, 1.0]) / (node - other)
        antiderivative = sum((-1) ** i * basis.deriv(i) for i in range(len(nodes)))
        out.append(np.exp(hi) * antiderivative(hi) - np.exp(lo) * antiderivative(lo))
    return np.asarray(out)


@dataclasses.dataclass(frozen=True)
class DEIS(LinearSolver):
    order: int = 3
    lower_order_final: bool = True

    def __post_init__(self):
        if self.order not in (1, 2, 3):
            raise ValueError(f"DEIS takes order 1-3, got {self.order!r}")

    @property
    def history(self) -> int:
        return self.order - 1  # past noise predictions

    def tables(self, sigmas: np.ndarray) -> Tables:
        b, n = Basis(self.history), len(sigmas) - 1
        log_rho = np.log(sigmas[:-1]) - np.log1p(-sigmas[:-1])
        orders = multistep_orders(self.order, n, self.lower_order_final)
        rows = []
        for k in range(n):
            s, t = sigmas[k], sigmas[k + 1]
            eps = b.x + (1 - s) * b.v
            new_history = [eps, *b.h][:self.history]
            if t == 0:
                rows.append([b.x0(s), *new_history])
                continue
            nodes = log_rho[k - np.arange(orders[k])]
            c = lagrange_integrals(nodes, log_rho[k], np.log(t) - np.log1p(-t))
            out = (1 - t) * (b.x / (1 - s) + sum(cj * e for cj, e in zip(c, [eps, *b.h])))
            rows.append([out, *new_history])
        return per_step(rows)
