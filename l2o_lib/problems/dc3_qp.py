"""The DC3 paper's convex QP (Donti, Rolnick, Kolter 2021), with ξ the equality right-hand side.

    minimize ½ yᵀQy + pᵀy   subject to  A y = ξ,  G y ≤ h

Q = diag(U[0, 1]), p ~ U[0, 1], A, G ~ N(0, 1) and h = Σⱼ |G A⁺|ᵢⱼ are fixed by ``seed``; ξ ~ U[−1, 1]^{n_eq}.
That choice of h makes every ξ in the box feasible (y = A⁺ξ satisfies G y ≤ h). Reference: cvxpy with a
parametrized problem (compiled once) and Clarabel, or OSQP/SCS on request.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from l2o_lib.problems.base import CvxpyFamily


class DC3QP(CvxpyFamily):
    """DC3's QP; sizes default to the paper's 100 variables, 50 equalities, 50 inequalities."""

    reference_solver = "Clarabel (cvxpy)"

    def __init__(self, n_vars: int = 100, n_eq: int = 50, n_ineq: int = 50, seed: int = 17):
        for label, v in (("n_vars", n_vars), ("n_eq", n_eq), ("n_ineq", n_ineq)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"dc3_qp: {label} must be a positive integer, got {v!r}")
        if n_eq >= n_vars:
            raise ValueError(f"dc3_qp: need n_eq < n_vars to leave freedom, got {n_eq} ≥ {n_vars}")
        self.name = f"dc3_qp_{n_vars}_{n_eq}_{n_ineq}" if (n_vars, n_eq, n_ineq) != (100, 50, 50) else "dc3_qp"
        self.n_vars, self.n_eq, self.n_ineq, self.n_params = int(n_vars), int(n_eq), int(n_ineq), int(n_eq)
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        self.Q_diag = rng.uniform(0, 1, n_vars)
        self.p = rng.uniform(0, 1, n_vars)
        self.A = rng.standard_normal((n_eq, n_vars))
        self.G = rng.standard_normal((n_ineq, n_vars))
        self.h = np.sum(np.abs(self.G @ np.linalg.pinv(self.A)), axis=1)
        self.param_names = tuple(f"b{i}" for i in range(n_eq))
        self.var_names = tuple(f"y{i}" for i in range(n_vars))
        self.param_low = -np.ones(n_eq)
        self.param_high = np.ones(n_eq)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, self.n_eq))

    def _objective(self, x: Any, xi: Any) -> Any:
        Q = self._const(self.Q_diag, x)
        p = self._const(self.p, x)
        return 0.5 * ((x * x) @ Q) + x @ p

    def _eq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.A, x).T - xi

    def _ineq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.G, x).T - self._const(self.h, x)

    def _build_cvxpy(self):
        import cvxpy as cp

        y = cp.Variable(self.n_vars)
        b = cp.Parameter(self.n_eq)
        obj = 0.5 * cp.sum(cp.multiply(self.Q_diag, cp.square(y))) + self.p @ y
        return cp.Problem(cp.Minimize(obj), [self.A @ y == b, self.G @ y <= self.h]), y, b

    # ------------------------------------------------------------------ structure used by the chapters
    def complete(self, y_part: np.ndarray, xi: np.ndarray, partial: np.ndarray | None = None) -> np.ndarray:
        """DC3's equality completion in numpy: given the free coordinates, solve A y = ξ for the rest."""
        partial_idx, other_idx = self.split_indices() if partial is None else (partial, None)
        if other_idx is None:
            other_idx = np.setdiff1d(np.arange(self.n_vars), partial_idx)
        A_p, A_o = self.A[:, partial_idx], self.A[:, other_idx]
        y = np.zeros((y_part.shape[0], self.n_vars))
        y[:, partial_idx] = y_part
        y[:, other_idx] = np.linalg.solve(A_o, (xi - y_part @ A_p.T).T).T
        return y

    def split_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """DC3's variable split: the first n_vars − n_eq are predicted, the last n_eq completed."""
        k = self.n_vars - self.n_eq
        return np.arange(k), np.arange(k, self.n_vars)
