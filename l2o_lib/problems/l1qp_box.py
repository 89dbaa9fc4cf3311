"""A fixed ℓ1-regularized dense QP over a parametric box (Chapter 6, LEAF).

    minimize ½ xᵀQx + pᵀx + λ‖x‖₁   subject to  |x − ξ| ≤ r  (elementwise)

The objective is the same for every instance; only the constraint set C(ξ) = [ξ − r, ξ + r] moves.
That is the setting where a learned Moreau envelope of f pays off: the proximal step of f does not
depend on ξ, so one scalar network serves every instance. Q = U diag(s) Uᵀ with s log-spaced in
[s_min, s_max] and U a random rotation, p ~ N(0, 1), all fixed by ``seed``; ξ ~ U[−1, 1]ⁿ.
Because Q is dense, the proximal step of f (a lasso) has no closed form; :meth:`prox` solves it by
accelerated proximal gradient to a tolerance. The projection onto C(ξ) is a clip (:meth:`project`).
Reference: cvxpy with Clarabel (parametrized problem compiled once, the shared ``CvxpyFamily`` path), or
another cvxpy solver on request (``solve(xi, solver="OSQP")``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

from l2o_lib.problems.base import CvxpyFamily
from l2o_lib.problems.qp import quadratic


class L1QPBox(CvxpyFamily):
    """ξ ∈ [−1, 1]ⁿ, the center of the box C(ξ) = {x : |x − ξ| ≤ r}; :class:`~l2o_lib.problems.Proximable`."""

    key = "l1qp_box"
    reference_solver = "Clarabel (cvxpy)"

    def __init__(self, n_vars: int = 10, lam: float = 0.3, radius: float = 0.5, s_min: float = 0.05,
                 s_max: float = 5.0, seed: int = 6):
        if isinstance(n_vars, bool) or not isinstance(n_vars, (int, np.integer)) or n_vars < 1:
            raise ValueError(f"l1qp_box: n_vars must be a positive integer, got {n_vars!r}")
        for label, v in (("lam", lam), ("radius", radius), ("s_min", s_min), ("s_max", s_max)):
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"l1qp_box: {label} must be a positive number, got {v!r}")
        if s_min > s_max:
            raise ValueError(f"l1qp_box: need s_min ≤ s_max, got {s_min} > {s_max}")
        n = int(n_vars)
        self.name = "l1qp_box" if n == 10 else f"l1qp_box_{n}"
        self.n_vars, self.n_params, self.n_eq, self.n_ineq = n, n, 0, 2 * n
        self.lam, self.radius, self.seed = float(lam), float(radius), int(seed)
        rng = np.random.default_rng(self.seed)
        U, _ = np.linalg.qr(rng.standard_normal((n, n)))
        self.eigs = np.geomspace(s_min, s_max, n)
        self.Q = (U * self.eigs) @ U.T
        self.Q = 0.5 * (self.Q + self.Q.T)
        self.p = rng.standard_normal(n)
        self.param_names = tuple(f"c{i}" for i in range(n))
        self.var_names = tuple(f"x{i}" for i in range(n))
        self.param_low, self.param_high = -np.ones(n), np.ones(n)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, self.n_params))

    # ------------------------------------------------------------------ f, g
    def _objective(self, x: Any, xi: Any = None) -> Any:
        """f(x) = ½ xᵀQx + pᵀx + λ‖x‖₁ (the same for every ξ)."""
        xp = array_namespace(x)
        return quadratic(x, self._const(self.Q, x), self._const(self.p, x)) + self.lam * xp.sum(xp.abs(x), axis=1)

    def _ineq(self, x: Any, xi: Any) -> Any:
        xp = array_namespace(x)
        return xp.concat([x - xi - self.radius, xi - self.radius - x], axis=1)

    # ------------------------------------------------------------------ the two ADMM building blocks
    def project(self, v: Any, xi: Any) -> Any:
        """Π_C(ξ)(v): the nearest point of the box, elementwise clip (numpy or torch)."""
        xp = array_namespace(v)
        return xp.minimum(xp.maximum(v, xi - self.radius), xi + self.radius)

    def prox(self, v: Any, rho: float, *, tol: float = 1e-10, max_iter: int = 2000,
             return_iters: bool = False, x0: Any = None) -> Any:
        """prox_{f/ρ}(v) = argmin_x f(x) + ρ/2 ‖x − v‖², batched, by accelerated proximal gradient.

        Runs until the largest step over the batch is below ``tol`` (or ``max_iter``); with
        ``return_iters`` also returns the number of iterations it took. Starts at ``x0`` (a warm start, e.g.
        the previous ADMM x-iterate; default v). Works on numpy and torch arrays.
        """
        if not rho > 0:
            raise ValueError(f"{self.name}.prox: rho must be positive, got {rho!r}")
        xp = array_namespace(v)
        Q, p = self._const(self.Q, v), self._const(self.p, v)
        L, mu = float(self.eigs.max()) + rho, float(self.eigs.min()) + rho
        step = 1.0 / L
        beta = (np.sqrt(L / mu) - 1.0) / (np.sqrt(L / mu) + 1.0)
        x = v if x0 is None else x0
        w = x
        it = 0
        while it < max_iter:
            it += 1
            grad = w @ Q + p + rho * (w - v)
            u = w - step * grad
            x_new = xp.sign(u) * xp.maximum(xp.abs(u) - step * self.lam, xp.zeros_like(u))
            w = x_new + beta * (x_new - x)
            step_change = x_new - x
            step_change = step_change.detach() if hasattr(step_change, "detach") else step_change  # no autograd
            change = float(xp.max(xp.abs(step_change)))
            x = x_new
            if change < tol:
                break
        return (x, it) if return_iters else x

    def envelope(self, v: Any, rho: float, **prox_options: Any) -> tuple[Any, Any, Any]:
        """Moreau envelope M_{1/ρ}f(v), its gradient ρ(v − prox(v)) and prox(v), from an exact prox."""
        x = self.prox(v, rho, **prox_options)
        xp = array_namespace(v)
        value = self._objective(x) + 0.5 * rho * xp.sum((v - x) ** 2, axis=1)
        return value, rho * (v - x), x

    # ------------------------------------------------------------------ reference solver
    def _build_cvxpy(self):
        import cvxpy as cp

        x = cp.Variable(self.n_vars)
        c = cp.Parameter(self.n_vars)
        L = np.linalg.cholesky(self.Q)
        obj = 0.5 * cp.sum_squares(L.T @ x) + self.p @ x + self.lam * cp.norm1(x)
        return cp.Problem(cp.Minimize(obj), [x <= c + self.radius, x >= c - self.radius]), x, c
