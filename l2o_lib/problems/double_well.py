"""A tilted double well: two competing global minima, so the solution map π*(ξ) jumps.

    minimize   (x₁² − 1)² + t x₁ + (x₂ − s)²
    subject to x₁² ≥ 1/4,                                   ξ = (t, s) ∈ [−1, 1]²

In x₁ the objective has two wells, near x₁ = −1 and x₁ = +1; the tilt t lowers one and raises the other. For
t < 0 the right well is the global minimum, for t > 0 the left one, and at t = 0 they tie: x₁* jumps by about 2
while f* stays continuous. The constraint cuts out the hump between the wells (|x₁| < 1/2), so a point halfway
between the two branches is neither optimal nor feasible. x₂* = s is the smooth part.

Reference: exact. x₁* is the best of the real roots of f's derivative 4x₁³ − 4x₁ + t that are feasible and the
two boundary points ±1/2 (x₂ separates), so every label is the global minimizer.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from l2o_lib.problems.base import OPTIMAL, ProblemFamily

#: the constraint keeps |x₁| at least this far from the hump at 0
HUMP = 0.5


def _phi(x1: np.ndarray, t: float) -> np.ndarray:
    return (x1**2 - 1.0) ** 2 + t * x1


class DoubleWell(ProblemFamily):
    """ξ = (t, s): t the tilt between the wells, s the target of x₂; x = (x₁, x₂)."""

    name = "double_well"
    n_params, n_vars, n_eq, n_ineq = 2, 2, 0, 1
    param_names = ("t", "s")
    var_names = ("x1", "x2")
    reference_solver = "exact (roots of the cubic, best feasible)"

    def __init__(self, t_range: tuple[float, float] = (-1.0, 1.0), s_range: tuple[float, float] = (-1.0, 1.0)):
        if not (t_range[0] < t_range[1]) or not (s_range[0] < s_range[1]):
            raise ValueError(f"{self.name}: ranges must be increasing, got t {t_range}, s {s_range}")
        if max(abs(t_range[0]), abs(t_range[1])) > 2.0:
            raise ValueError(f"{self.name}: |t| ≤ 2 keeps both wells, got t {t_range}")
        self.param_low = np.array([t_range[0], s_range[0]], dtype=float)
        self.param_high = np.array([t_range[1], s_range[1]], dtype=float)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.param_low, self.param_high, size=(n, 2))

    def _objective(self, x: Any, xi: Any) -> Any:
        x1, x2 = x[:, 0], x[:, 1]
        return (x1**2 - 1.0) ** 2 + xi[:, 0] * x1 + (x2 - xi[:, 1]) ** 2

    def _ineq(self, x: Any, xi: Any) -> Any:
        return (HUMP**2 - x[:, 0] ** 2)[:, None]

    def _solve_one(self, xi: np.ndarray, **_: Any):
        t0 = time.perf_counter()
        t, s = float(xi[0]), float(xi[1])
        roots = np.roots([4.0, 0.0, -4.0, t])
        cand = np.concatenate([roots[np.abs(roots.imag) < 1e-12].real, [-HUMP, HUMP]])
        cand = cand[np.abs(cand) >= HUMP - 1e-12]
        x1 = float(cand[np.argmin(_phi(cand, t))])
        x = np.array([x1, s])
        return x, float(_phi(np.array([x1]), t)[0]), OPTIMAL, time.perf_counter() - t0

    def jump_at(self) -> float:
        """The tilt at which the global minimum switches wells (the wells tie): t = 0."""
        return 0.0
