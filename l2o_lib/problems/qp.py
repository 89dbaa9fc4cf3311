"""One family of parametric QPs with linear constraints; ξ is the equality right-hand side.

    minimize ½ xᵀQx + pᵀx   subject to  A x = ξ,  G x ≤ h

A, G ~ N(0, 1) and the cost are fixed by ``seed``; ξ ∈ Ξ = [−1, 1]^{n_eq}. With h = Σⱼ |G A⁺|ᵢⱼ + ``margin``
the point x = A⁺ξ satisfies G x ≤ h − margin for every ξ in Ξ, so every instance is feasible by construction
(strictly when ``margin`` > 0). Two costs, the variants the book uses:

* ``cost="dc3"``: Q = diag(U[0, 1]), p ~ U[0, 1], as in the DC3 paper (Donti, Rolnick, Kolter 2021);
  registered as ``dc3_qp`` (100 variables, 50 equalities, 50 inequalities, margin 0, seed 17);
* ``cost="gram"``: Q = MᵀM/n + 0.1 I with M ~ N(0, 1), p ~ N(0, 1): dense and positive definite;
  registered as ``param_qp`` (10 variables, 5 equalities, 5 inequalities, margin 0.1, seed 7), chapter 7's QP.

Reference: cvxpy with a parametrized problem (compiled once) and Clarabel, or OSQP/SCS on request.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from array_api_compat import array_namespace

from l2o_lib.problems.base import CvxpyFamily
from l2o_lib.problems.capabilities import EqualityCompletable, QPForm, QuadraticForm


class Variant(NamedTuple):
    """A registered variant: its name, default sizes, seed and margin, and the symbol of its variables."""

    key: str
    sizes: tuple[int, int, int]
    seed: int
    margin: float
    var_symbol: str


#: cost -> the variant registered with it
VARIANTS = {"dc3": Variant("dc3_qp", (100, 50, 50), 17, 0.0, "y"), "gram": Variant("param_qp", (10, 5, 5), 7, 0.1, "x")}


class LinearQP(CvxpyFamily, QPForm, EqualityCompletable):
    """ξ ∈ [−1, 1]^{n_eq}, the right-hand side of A x = ξ; ``cost`` picks the variant (see :data:`VARIANTS`)."""

    reference_solver = "Clarabel (cvxpy)"

    def __init__(self, n_vars: int, n_eq: int, n_ineq: int, seed: int, *, cost: str, margin: float):
        if cost not in VARIANTS:
            raise ValueError(f"LinearQP: cost must be one of {sorted(VARIANTS)}, got {cost!r}")
        variant = VARIANTS[cost]
        key = variant.key
        for label, v in (("n_vars", n_vars), ("n_eq", n_eq), ("n_ineq", n_ineq)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{key}: {label} must be a positive integer, got {v!r}")
        if n_eq >= n_vars:
            raise ValueError(f"{key}: need n_eq < n_vars to leave freedom, got {n_eq} ≥ {n_vars}")
        if not (np.isfinite(margin) and margin >= 0):
            raise ValueError(f"{key}: margin must be a non-negative number, got {margin!r}")
        sizes = (int(n_vars), int(n_eq), int(n_ineq))
        self.key = key
        self.name = key if sizes == variant.sizes else f"{key}_{n_vars}_{n_eq}_{n_ineq}"
        if margin != variant.margin:
            self.name += f"_margin{margin:g}"
        self.n_vars, self.n_eq, self.n_ineq = sizes
        self.n_params = self.n_eq
        self.seed, self.margin = int(seed), float(margin)
        rng = np.random.default_rng(self.seed)
        n = self.n_vars
        #: a diagonal Q is kept as its diagonal: f and the cvxpy model use it elementwise
        self.diagonal = cost == "dc3"
        if self.diagonal:
            self.Q_diag = rng.uniform(0, 1, n)
            self.p = rng.uniform(0, 1, n)
            self.Q = np.diag(self.Q_diag)
        else:
            M = rng.standard_normal((n, n))
            self.Q = M.T @ M / n + 0.1 * np.eye(n)
            self.Q_diag = np.diag(self.Q).copy()
            self.p = rng.standard_normal(n)
        self.A = rng.standard_normal((self.n_eq, n))
        self.G = rng.standard_normal((self.n_ineq, n))
        self.h = np.sum(np.abs(self.G @ np.linalg.pinv(self.A)), axis=1) + self.margin
        self.param_names = tuple(f"b{i}" for i in range(self.n_eq))
        self.var_names = tuple(f"{variant.var_symbol}{i}" for i in range(n))
        self.param_low = -np.ones(self.n_eq)
        self.param_high = np.ones(self.n_eq)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, self.n_eq))

    def _objective(self, x: Any, xi: Any) -> Any:
        p = self._const(self.p, x)
        if self.diagonal:
            return 0.5 * ((x * x) @ self._const(self.Q_diag, x)) + x @ p
        return quadratic(x, self._const(self.Q, x), p)

    def _eq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.A, x).T - xi

    def _ineq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.G, x).T - self._const(self.h, x)

    def _standard_form(self) -> QuadraticForm:
        m = self.n_params
        return QuadraticForm(A=self.A, b0=np.zeros(self.n_eq), B=np.eye(m), G=self.G, h0=self.h,
                             H=np.zeros((m, self.n_ineq)), Q=self.Q, p=self.p)

    def _build_cvxpy(self):
        import cvxpy as cp

        x = cp.Variable(self.n_vars)
        b = cp.Parameter(self.n_eq)
        if self.diagonal:
            obj = 0.5 * cp.sum(cp.multiply(self.Q_diag, cp.square(x))) + self.p @ x
        else:
            obj = 0.5 * cp.quad_form(x, cp.psd_wrap(self.Q)) + self.p @ x
        return cp.Problem(cp.Minimize(obj), [self.A @ x == b, self.G @ x <= self.h]), x, b

    def split_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """DC3's variable split: the first n_vars − n_eq are predicted, the last n_eq completed."""
        k = self.n_vars - self.n_eq
        return np.arange(k), np.arange(k, self.n_vars)

    def completion_split(self) -> tuple[np.ndarray, np.ndarray]:
        """DC3's split (:meth:`split_indices`)."""
        return self.split_indices()

    def eq_jacobian(self, x: Any, xi: Any) -> Any:
        """∂h/∂x = A at every point, batched."""
        xp = array_namespace(x)
        return xp.broadcast_to(self._const(self.A, x), (x.shape[0], *self.A.shape))


def quadratic(x: Any, Q: Any, p: Any) -> Any:
    """½ xᵀQx + pᵀx, batched over the rows of x (any array namespace)."""
    xp = array_namespace(x)
    return 0.5 * xp.sum((x @ Q) * x, axis=1) + x @ p


def dc3_qp(n_vars: int = 100, n_eq: int = 50, n_ineq: int = 50, seed: int = 17, *, cost: str = "dc3",
           margin: float = 0.0) -> LinearQP:
    """The DC3 paper's QP: diagonal Q, h with no margin (feasible, not strictly, at the box's corners).

    ``cost`` and ``margin`` are accepted so that a family rebuilds from its recorded ``params``.
    """
    return LinearQP(n_vars, n_eq, n_ineq, seed, cost=cost, margin=margin)


def param_qp(n_vars: int = 10, n_eq: int = 5, n_ineq: int = 5, seed: int = 7, *, cost: str = "gram",
             margin: float = 0.1) -> LinearQP:
    """Chapter 7's small QP: dense Q, h with margin 0.1 (strictly feasible).

    ``cost`` and ``margin`` are accepted so that a family rebuilds from its recorded ``params``.
    """
    return LinearQP(n_vars, n_eq, n_ineq, seed, cost=cost, margin=margin)
