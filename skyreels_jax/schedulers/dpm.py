"""DPM-Solver++ multistep (DPMSolverMultistepScheduler, algorithm dpmsolver++ / sde-dpmsolver++).

Data prediction in the log-SNR λ = log((1 − σ)/σ), with h = λ' − λ and α = 1 − σ:
    order 1:        x' = (σ'/σ)·e^{−ηh}·x + α'·(1 − e^{−(1+η)h})·D0 + σ'·√(1 − e^{−2ηh})·noise
    order 2 (midpoint): adds α'·(1 − e^{−(1+η)h})·D1/2 with D1 = (x0_k − x0_{k−1})/r, r = h_{k−1}/h
    order 3 (ODE only): the third-order multistep update of DPM-Solver++ (3M)
where D0 = x0_k = x − σ·v. η = 0 is the ODE solver (dpmpp_2m, dpmpp_3m); η = 1 is diffusers'
sde-dpmsolver++ (dpmpp_2m_sde). Orders ramp up 1, 2, …; as in diffusers with lower_order_final,
schedules of fewer than 15 steps end with orders 2 then 1; a step to σ = 0 returns x0.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from skyreels_jax.schedulers.linear import Basis, LinearSolver, Tables, log_snr, per_step


def multistep_orders(order: int, n: int, lower_order_final: bool) -> list[int]:
    """Order at each of n steps: warm-up min(order, k + 1); with lower_order_final and n < 15 the
    last two steps are at most 2 and 1 (diffusers' DPM-Solver++ and DEIS)."""
    orders = [min(order, k + 1) for k in range(n)]
    if lower_order_final and n < 15:
        orders[-1] = 1
        if n > 1:
            orders[-2] = min(orders[-2], 2)
    return orders


@dataclasses.dataclass(frozen=True)
class DPMSolverPP(LinearSolver):
    order: int = 2
    eta: float = 0.0  # 0: ODE; 1: sde-dpmsolver++
    lower_order_final: bool = True

    def __post_init__(self):
        if self.order not in (1, 2, 3) or not 0 <= self.eta <= 1 or (self.order == 3 and self.eta):
            raise ValueError(f"DPM-Solver++ takes order 1-3 and eta in [0, 1] (order 3: eta 0), got {self}")

    @property
    def history(self) -> int:
        return self.order - 1  # past x0 predictions

    @property
    def stochastic(self) -> bool:
        return self.eta > 0

    def tables(self, sigmas: np.ndarray) -> Tables:
        b, lam, n = Basis(self.history, noise=self.stochastic), log_snr(sigmas), len(sigmas) - 1
        orders = multistep_orders(self.order, n, self.lower_order_final)
        rows = []
        for k in range(n):
            s, t = sigmas[k], sigmas[k + 1]
            x0 = b.x0(s)
            new_history = [x0, *b.h][:self.history]
            if t == 0:
                rows.append([x0, *new_history])
                continue
            h = lam[k + 1] - lam[k]
            past = [x0, *b.h]  # x0_k, x0_{k-1}, x0_{k-2}
            r = [(lam[k - i] - lam[k - i - 1]) / h for i in range(orders[k] - 1)]  # h_{k-1}/h, h_{k-2}/h
            if orders[k] == 3:
                out = (t / s) * b.x + self._third_order(past, r, h, 1 - t)
            else:
                c = (1 - t) * -np.expm1(-(1 + self.eta) * h)
                d = past[0] if orders[k] == 1 else past[0] + 0.5 * (past[0] - past[1]) / r[0]
                out = (t / s) * np.exp(-self.eta * h) * b.x + c * d
                if self.stochastic:
                    out = out + t * np.sqrt(-np.expm1(-2 * self.eta * h)) * b.noise
            rows.append([out, *new_history])
        return per_step(rows)

    @staticmethod
    def _third_order(past, r, h, alpha):
        """The x0 part of DPM-Solver++(3M): −α'φ·D0 + α'(φ/h + 1)·D1 − α'((φ + h)/h² − ½)·D2, φ = e^{−h} − 1."""
        m0, m1, m2 = past[:3]
        d10, d11 = (m0 - m1) / r[0], (m1 - m2) / r[1]
        d1 = d10 + r[0] / (r[0] + r[1]) * (d10 - d11)
        d2 = (d10 - d11) / (r[0] + r[1])
        phi = np.expm1(-h)
        return -alpha * phi * m0 + alpha * (phi / h + 1) * d1 - alpha * ((phi + h) / h**2 - 0.5) * d2
