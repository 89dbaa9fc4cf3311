"""The tutorial's 2-D nonconvex problem (a Rosenbrock valley cut by an annulus and a half-plane).

    minimize   (1 − x₁)² + a (x₂ − x₁²)²
    subject to (p/2)² ≤ x₁² + x₂² ≤ p²,   x₁ ≥ x₂,          ξ = (p, a)

For p ≥ √2 the unconstrained minimizer (1, 1) is feasible and f* = 0; for smaller p the optimum sits
on the outer circle, and for some ξ two local minima compete, so the solution map π*(ξ) has kinks and
jumps. Reference: IPOPT (casadi) from several starts, keeping the best point IPOPT reports solved.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from l2o_lib.problems.base import OPTIMAL, ProblemFamily

#: start angles (degrees) on the mid-radius circle, all inside the half-plane x₁ ≥ x₂.
START_ANGLES = (-120.0, -60.0, 0.0, 40.0)


def valley(x1: Any, x2: Any, a: Any) -> Any:
    """f = (1 − x₁)² + a (x₂ − x₁²)², elementwise: numpy, torch, jax arrays and casadi symbols alike."""
    return (1.0 - x1) ** 2 + a * (x2 - x1**2) ** 2


class Nonconvex2D(ProblemFamily):
    """ξ = (p, a) with p ∈ [0.5, 2], a ∈ [0.2, 1.2]; x = (x₁, x₂)."""

    name = key = "nonconvex_2d"
    n_params, n_vars, n_eq, n_ineq = 2, 2, 0, 3
    param_names = ("p", "a")
    var_names = ("x1", "x2")
    reference_solver = "IPOPT (casadi, multi-start)"

    def __init__(self, p_range: tuple[float, float] = (0.5, 2.0), a_range: tuple[float, float] = (0.2, 1.2)):
        if not (0 < p_range[0] < p_range[1]) or not (0 < a_range[0] < a_range[1]):
            raise ValueError(f"{self.name}: ranges must be increasing and positive, got p {p_range}, a {a_range}")
        self.param_low = np.array([p_range[0], a_range[0]], dtype=float)
        self.param_high = np.array([p_range[1], a_range[1]], dtype=float)
        self._nlp = None

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.param_low, self.param_high, size=(n, 2))

    def _objective(self, x: Any, xi: Any) -> Any:
        return valley(x[:, 0], x[:, 1], xi[:, 1])

    def _ineq(self, x: Any, xi: Any) -> Any:
        xp = array_namespace(x, xi)
        p = xi[:, 0]
        r2 = x[:, 0] ** 2 + x[:, 1] ** 2
        return xp.stack([(p / 2) ** 2 - r2, r2 - p**2, x[:, 1] - x[:, 0]], axis=1)

    # ------------------------------------------------------------------ IPOPT
    def _solver(self):
        if self._nlp is None:
            import casadi as ca

            z = ca.SX.sym("z", 2)
            prm = ca.SX.sym("prm", 2)
            f = valley(z[0], z[1], prm[1])
            r2 = z[0] ** 2 + z[1] ** 2
            g = ca.vertcat(r2, z[1] - z[0])
            opts = {"ipopt.print_level": 0, "print_time": 0, "ipopt.sb": "yes", "ipopt.tol": 1e-10,
                    "ipopt.constr_viol_tol": 1e-10, "ipopt.acceptable_iter": 0}
            self._nlp = ca.nlpsol("nonconvex_2d", "ipopt", {"x": z, "p": prm, "f": f, "g": g}, opts)
        return self._nlp

    def starts(self, p: float) -> np.ndarray:
        """The initial points IPOPT is started from for outer radius ``p``."""
        ang = np.deg2rad(np.array(START_ANGLES))
        return 0.75 * p * np.stack([np.cos(ang), np.sin(ang)], axis=1)

    def _solver_label(self, options: dict[str, Any]) -> str:
        if unknown := sorted(set(options) - {"starts"}):
            raise ValueError(f"{self.name}.solve: unknown option(s) {unknown}; the reference is {self.reference_solver} "
                             f"and takes only starts (1 to {len(START_ANGLES)})")
        starts = options.get("starts", len(START_ANGLES))
        if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or not 1 <= starts <= len(START_ANGLES):
            raise ValueError(f"{self.name}.solve: starts must be an integer from 1 to {len(START_ANGLES)}, got {starts!r}")
        return self.reference_solver

    def _solve_one(self, xi: np.ndarray, *, starts: int = len(START_ANGLES)):
        solver = self._solver()
        p, a = float(xi[0]), float(xi[1])
        x0s = self.starts(p)[:starts]
        best_x, best_f, spent, last = None, np.inf, 0.0, "not run"
        for x0 in x0s:
            t0 = time.perf_counter()
            sol = solver(x0=x0, p=[p, a], lbg=[(p / 2) ** 2, -np.inf], ubg=[p**2, 0.0])
            spent += time.perf_counter() - t0
            stats = solver.stats()
            last = stats.get("return_status", "unknown")
            if stats.get("success", False):
                fx = float(sol["f"])
                if fx < best_f:
                    best_x, best_f = np.asarray(sol["x"]).ravel(), fx
        if best_x is None:
            return None, np.nan, f"ipopt: {last}", spent
        return best_x, best_f, OPTIMAL, spent

    # ------------------------------------------------------------------ pictures
    def region_mask(self, xx: np.ndarray, yy: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """Boolean mask of the feasible set on a grid, for one ξ of shape ``(2,)``."""
        p = float(xi[0])
        r2 = xx**2 + yy**2
        return (r2 >= (p / 2) ** 2) & (r2 <= p**2) & (xx >= yy)

    def objective_grid(self, xx: np.ndarray, yy: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """f on a grid, for one ξ of shape ``(2,)``."""
        return valley(xx, yy, float(xi[1]))
