"""Entropy maximization over the simplex with parametric linear inequalities (the tutorial's HUANet example).

    maximize −Σ xᵢ log xᵢ   subject to  C x ≤ ξ,  1ᵀx = 1        (stated here as minimize Σ xᵢ log xᵢ)

n = 10 variables and 5 inequalities by default; C ~ N(0, 1) fixed by ``seed``; ξ = C softmax(u) + ε with
u ~ U[0.001, 1]ⁿ and ε ~ U[0, 0.1]^m, so every sampled instance has a strictly feasible point. The
objective is defined for x ≥ 0 (0 log 0 = 0) and is NaN where some xᵢ < 0: such a point is outside
the problem's domain and is reported so, not clipped. Reference: cvxpy (exponential cone), Clarabel or SCS.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

from l2o_lib.problems.base import CvxpyFamily
from l2o_lib.problems.capabilities import DiagonalHessianForm, LinearlyConstrained, as_array_like


class EntropyMax(CvxpyFamily, LinearlyConstrained):
    """ξ ∈ R^m, the right-hand side of C x ≤ ξ."""

    key = "entropy"
    reference_solver = "Clarabel (cvxpy)"

    def __init__(self, n_vars: int = 10, n_ineq: int = 5, seed: int = 0):
        for label, v in (("n_vars", n_vars), ("n_ineq", n_ineq)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"entropy: {label} must be a positive integer, got {v!r}")
        self.name = "entropy" if (n_vars, n_ineq) == (10, 5) else f"entropy_{n_vars}_{n_ineq}"
        self.n_vars, self.n_ineq, self.n_eq, self.n_params = int(n_vars), int(n_ineq), 1, int(n_ineq)
        self.seed = int(seed)
        self.C = np.random.default_rng(self.seed).standard_normal((n_ineq, n_vars))
        self.param_names = tuple(f"xi{i}" for i in range(n_ineq))
        self.var_names = tuple(f"x{i}" for i in range(n_vars))
        # C softmax(u) is a convex combination of C's columns: each row lies in [min_j C_ij, max_j C_ij].
        self.param_low = self.C.min(axis=1)
        self.param_high = self.C.max(axis=1) + 0.1

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        u = rng.uniform(0.001, 1.0, size=(n, self.n_vars))
        w = np.exp(u - u.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        return w @ self.C.T + rng.uniform(0.0, 0.1, size=(n, self.n_ineq))

    def _objective(self, x: Any, xi: Any) -> Any:
        xp = array_namespace(x)
        positive = x > 0
        safe = xp.where(positive, x, xp.ones_like(x))
        xlogx = xp.where(positive, x * xp.log(safe), xp.zeros_like(x))
        nan = xp.full_like(x, float("nan"))
        return xp.sum(xp.where(x < 0, nan, xlogx), axis=1)

    def _eq(self, x: Any, xi: Any) -> Any:
        xp = array_namespace(x)
        return xp.sum(x, axis=1, keepdims=True) - 1.0

    def _ineq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.C, x).T - xi

    def _standard_form(self) -> SimplexEntropyForm:
        n, m = self.n_vars, self.n_params
        return SimplexEntropyForm(A=np.ones((1, n)), b0=np.ones(1), B=np.zeros((m, 1)), G=self.C,
                                  h0=np.zeros(self.n_ineq), H=np.eye(m))

    def _build_cvxpy(self):
        import cvxpy as cp

        x = cp.Variable(self.n_vars)
        b = cp.Parameter(self.n_ineq)
        return cp.Problem(cp.Minimize(-cp.sum(cp.entr(x))), [self.C @ x <= b, cp.sum(x) == 1]), x, b


class SimplexEntropyForm(DiagonalHessianForm):
    """f(x) = Σ xᵢ log xᵢ on the simplex 1ᵀx = 1: ∇f = log x + 1, ∇²f = diag(1/x); the feasibility layer is a
    softmax of logits, which also keeps x > 0 inside f's domain."""

    def grad(self, x: Any) -> Any:
        return array_namespace(x).log(x) + 1.0

    def hess_inv_diag(self, x: Any) -> Any:
        return x

    def feasibility(self, xbar: Any, b: Any) -> Any:
        from array_api_compat import is_jax_array

        if is_jax_array(xbar):  # jax's softmax carries its own, stable derivative rule
            import jax

            return jax.nn.softmax(xbar, axis=-1)
        xp = array_namespace(xbar)
        e = xp.exp(xbar - xp.max(xbar, axis=-1, keepdims=True))
        return e / xp.sum(e, axis=-1, keepdims=True)

    def retract(self, x: Any, b: Any) -> Any:
        return self.feasibility(array_namespace(x).log(x), b)

    def primal_update(self, x: Any, step: Any, b: Any) -> Any:
        """x + α step with α ≤ 1 at most 99 % of the way to the boundary x = 0 (:meth:`step_length`), then the
        softmax of log(x + α step) renormalizes it; with α = 1 and 1ᵀstep = 0 that is exactly x + step. Damping,
        not clipping: no coordinate can reach 0, so a step far too large (out of distribution) slows the layers
        down instead of turning x into NaN."""
        return self.feasibility(array_namespace(x).log(x + self.step_length(x, step) * step), b)

    def step_length(self, x: Any, dx: Any, tau: float = 0.99) -> Any:
        """Per-instance α ≤ 1 with x + α dx > 0: at most τ of the way to the boundary x = 0."""
        xp = array_namespace(x)
        ratio = xp.where(dx < 0, -x / xp.where(dx < 0, dx, -1.0), xp.inf)
        return xp.minimum(as_array_like(np.ones(1), x), tau * xp.min(ratio, axis=1, keepdims=True))
