"""A small parametric QP with equalities and inequalities (chapter 7's second HUANet problem).

    minimize ½ xᵀQx + pᵀx   subject to  A x = ξ,  C x ≤ d

n = 10 variables, 5 equalities, 5 inequalities by default. Q = MᵀM/n + 0.1 I (positive definite), p, A, C
~ N(0, 1) are fixed by ``seed``; ξ ∈ Ξ = [−1, 1]^{n_eq} is the equality right-hand side. With
d = Σⱼ |C A⁺|ᵢⱼ + 0.1, the point x = A⁺ξ satisfies C x ≤ d − 0.1 for every ξ in Ξ, so every sampled
instance is strictly feasible by construction. Reference: cvxpy (compiled once), Clarabel, or SCS/OSQP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from l2o_lib.problems.base import CvxpyFamily


class ParamQP(CvxpyFamily):
    """ξ ∈ [−1, 1]^{n_eq}, the right-hand side of A x = ξ."""

    reference_solver = "Clarabel (cvxpy)"

    def __init__(self, n_vars: int = 10, n_eq: int = 5, n_ineq: int = 5, seed: int = 7):
        for label, v in (("n_vars", n_vars), ("n_eq", n_eq), ("n_ineq", n_ineq)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"param_qp: {label} must be a positive integer, got {v!r}")
        if n_eq >= n_vars:
            raise ValueError(f"param_qp: need n_eq < n_vars, got {n_eq} ≥ {n_vars}")
        self.name = "param_qp" if (n_vars, n_eq, n_ineq) == (10, 5, 5) else f"param_qp_{n_vars}_{n_eq}_{n_ineq}"
        self.n_vars, self.n_eq, self.n_ineq, self.n_params = int(n_vars), int(n_eq), int(n_ineq), int(n_eq)
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        M = rng.standard_normal((n_vars, n_vars))
        self.Q = M.T @ M / n_vars + 0.1 * np.eye(n_vars)
        self.p = rng.standard_normal(n_vars)
        self.A = rng.standard_normal((n_eq, n_vars))
        self.C = rng.standard_normal((n_ineq, n_vars))
        self.d = np.sum(np.abs(self.C @ np.linalg.pinv(self.A)), axis=1) + 0.1
        self.param_names = tuple(f"b{i}" for i in range(n_eq))
        self.var_names = tuple(f"x{i}" for i in range(n_vars))
        self.param_low = -np.ones(n_eq)
        self.param_high = np.ones(n_eq)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, self.n_eq))

    def _objective(self, x: Any, xi: Any) -> Any:
        Q, p = self._const(self.Q, x), self._const(self.p, x)
        return _quad(x, Q) + x @ p

    def _eq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.A, x).T - xi

    def _ineq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.C, x).T - self._const(self.d, x)

    def _build_cvxpy(self):
        import cvxpy as cp

        x = cp.Variable(self.n_vars)
        b = cp.Parameter(self.n_eq)
        obj = 0.5 * cp.quad_form(x, cp.psd_wrap(self.Q)) + self.p @ x
        return cp.Problem(cp.Minimize(obj), [self.A @ x == b, self.C @ x <= self.d]), x, b


def _quad(x: Any, Q: Any) -> Any:
    from array_api_compat import array_namespace

    xp = array_namespace(x)
    return 0.5 * xp.sum((x @ Q) * x, axis=1)
