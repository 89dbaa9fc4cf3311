"""ADMM with slacks in JAX, batched, on a family's standard form: the pieces HUANet's layers are built from, and
the vanilla baseline (chapter 7).

The family gives its standard form (:meth:`~l2o_lib.problems.LinearlyConstrained.standard_form`):
min f(x) s.t. A x = b(ξ), G x ≤ h(ξ), with ``grad``, ``hess``, the feasibility layer and A⁺ cached in it. ADMM
with slack s, its copy w ≥ 0 and scaled dual u = v/ρ:

    x^{k+1} = argmin_{A x = b} f(x) + ρ/2 ‖G x − h + w^k − u^k‖²        (the primal subproblem)
    s^{k+1} = h − G x^{k+1},   w^{k+1} = max(0, s^{k+1} + u^k),   u^{k+1} = u^k + s^{k+1} − w^{k+1}

The primal step is one Newton step on the subproblem (:func:`newton_direction`): exact for a QP; for the entropy
``newton_steps`` steps, warm-started from the previous iterate and damped to keep x > 0 (the form's
``primal_update``). Like jaxopt, nothing here changes global state: 64-bit floats are the caller's choice
(``runtime.setup(jax_x64=True)``, or ``with jax.enable_x64(True):``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from l2o_lib.problems.capabilities import DiagonalHessianForm, LinearlyConstrained, QuadraticForm, StandardForm, require


def standard_form(family: Any) -> StandardForm:
    """The family's standard form; a family without linear constraints affine in ξ is refused."""
    require(family, LinearlyConstrained, "l2o_lib.jax (ADMM, HUANet)")
    return family.standard_form()


def start_point(xi: jax.Array, sf: StandardForm) -> jax.Array:
    """x⁰ = sf.feasibility(0, b): the uniform point of the simplex, or A⁺b (the layers and ADMM start here)."""
    return sf.start(xi)


def spd_solve(S: jax.Array, R: jax.Array) -> jax.Array:
    """Solve S X = R for a batch of small symmetric positive definite S (batch, m, m), R (batch, m, r).

    The Cholesky factorization and both substitutions are written out entry by entry: for m ≤ 10 this is a
    handful of fused elementwise operations over the batch, several times faster on a CPU than a batched LU.
    """
    m = S.shape[-1]
    zero = jnp.zeros_like(S[:, 0, 0])
    L = [[zero] * m for _ in range(m)]
    for j in range(m):
        L[j][j] = jnp.sqrt(S[:, j, j] - sum((L[j][k] ** 2 for k in range(j)), zero))
        for i in range(j + 1, m):
            L[i][j] = (S[:, i, j] - sum((L[i][k] * L[j][k] for k in range(j)), zero)) / L[j][j]
    y: list[jax.Array] = []
    for i in range(m):
        y.append((R[:, i] - sum((L[i][k][:, None] * y[k] for k in range(i)), jnp.zeros_like(R[:, 0]))) / L[i][i][:, None])
    out: list[jax.Array] = [None] * m  # type: ignore[list-item]
    for i in reversed(range(m)):
        out[i] = (y[i] - sum((L[k][i][:, None] * out[k] for k in range(i + 1, m)), jnp.zeros_like(R[:, 0]))) / L[i][i][:, None]
    return jnp.stack(out, axis=1)


def newton_direction(x: jax.Array, g: jax.Array, b: jax.Array, rho: jax.Array, sf: StandardForm) -> jax.Array:
    """The Newton step dx of the ADMM primal subproblem at x: solve, batched,

        [ K   Aᵀ ] [dx]   [ −g      ]        K = ∇²f(x) + ρ GᵀG
        [ A   0  ] [λ ] = [ b − A x ],

    with ρ a scalar or one value per instance (shape (batch, 1)). No dense factorization per instance: for a
    quadratic f (:class:`~l2o_lib.problems.QuadraticForm`), ∇²f = Q is constant and the step is taken in the
    null space of A, where one eigendecomposition, cached in the form, diagonalizes the reduced K for every ρ;
    for a separable f (:class:`~l2o_lib.problems.DiagonalHessianForm`), K⁻¹ is applied through the Woodbury
    identity on the rank-m_I term ρGᵀG (one m_I × m_I solve per instance, :func:`spd_solve`).
    """
    A, G = jnp.asarray(sf.A), jnp.asarray(sf.G)
    batch, mi = x.shape[0], G.shape[0]
    rho = jnp.broadcast_to(jnp.reshape(jnp.asarray(rho, dtype=x.dtype), (-1, 1)), (batch, 1))
    if isinstance(sf, QuadraticForm):
        T, lam = (jnp.asarray(a) for a in sf.penalty_eigenbasis)
        dx_p = (b - x @ A.T) @ jnp.asarray(sf.A_pinv).T                                 # A dx_p = b − A x
        grad = g + dx_p @ jnp.asarray(sf.Q) + rho * (dx_p @ G.T) @ G                  # model gradient at x + dx_p
        return dx_p - ((grad @ T) / (1.0 + rho * lam)) @ T.T
    require(sf, DiagonalHessianForm, "newton_direction")
    d_inv = sf.hess_inv_diag(x)                                        # ∇²f(x)⁻¹ = diag(d_inv)
    GDG = jnp.einsum("in,bn,jn->bij", G, d_inv, G)                     # G ∇²f⁻¹ Gᵀ
    S = GDG + jnp.eye(mi) / rho[:, :, None]

    def k_inv(Y):                          # (D + ρGᵀG)⁻¹ Y = D⁻¹Y − D⁻¹Gᵀ (I/ρ + G D⁻¹ Gᵀ)⁻¹ G D⁻¹ Y
        DY = d_inv[:, :, None] * Y
        return DY - d_inv[:, :, None] * jnp.einsum("in,bir->bnr", G, spd_solve(S, jnp.einsum("in,bnr->bir", G, DY)))

    Y = k_inv(jnp.concatenate([g[:, :, None], jnp.broadcast_to(A.T, (batch,) + A.T.shape)], axis=2))
    Kg, KAt = Y[:, :, 0], Y[:, :, 1:]
    lam = spd_solve(jnp.einsum("en,bnf->bef", A, KAt), (-(b - x @ A.T) - Kg @ A.T)[:, :, None])[:, :, 0]
    return -(Kg + jnp.einsum("bne,be->bn", KAt, lam))


def subproblem_grad(x: jax.Array, target: jax.Array, rho: jax.Array, sf: StandardForm) -> jax.Array:
    """The gradient of the primal subproblem's objective f(x) + ρ/2 ‖G x − target‖² (target = h − w + u)."""
    G = jnp.asarray(sf.G)
    return sf.grad(x) + rho * (x @ G.T - target) @ G


def make_admm(family: Any, iters: int, rho: float = 1.0, newton_steps: int = 1, *, trace: bool = False):
    """A batched ``admm(ξ, rho=rho) -> (x, history)`` for a linearly constrained ``family``, compiled once.

    ρ is an argument of the compiled function, not a constant: one ``make_admm`` serves every penalty
    (``admm(xi, 4.0)``) without compiling again. ``history`` holds, per iteration, the mean primal residual
    ‖s − w‖∞ and the mean inequality violation; with ``trace=True`` it is instead every iterate x^k, shape
    ``(iters + 1, batch, n)`` with x⁰ first. A quadratic f's subproblem is solved by one Newton step, so
    ``newton_steps`` counts only for other objectives.
    """
    for label, v in (("iters", iters), ("newton_steps", newton_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"make_admm: {label} must be a positive integer, got {v!r}")
    if not rho > 0:
        raise ValueError(f"make_admm: rho must be positive, got {rho!r}")
    default_rho = float(rho)
    sf = standard_form(family)
    G = jnp.asarray(sf.G)
    steps = 1 if isinstance(sf, QuadraticForm) else newton_steps

    def primal(x, t, b, rho):
        for _ in range(steps):
            dx = newton_direction(x, subproblem_grad(x, t, rho, sf), b, rho, sf)
            x = sf.primal_update(x, dx, b)
        return x

    @jax.jit
    def run(xi, rho):
        b, h = sf.rhs(xi)
        x0 = sf.start(xi)
        w0 = jnp.maximum(h - x0 @ G.T, 0.0)

        def step(carry, _):
            x, w, u = carry
            x = primal(x, h - w + u, b, rho)
            s = h - x @ G.T
            w_new = jnp.maximum(s + u, 0.0)
            u = u + s - w_new
            if trace:
                return (x, w_new, u), x
            return (x, w_new, u), (jnp.abs(s - w_new).max(axis=1).mean(), jnp.maximum(-s, 0.0).max(axis=1).mean())

        (x, _, _), hist = jax.lax.scan(step, (x0, w0, jnp.zeros_like(w0)), None, length=iters)
        return x, (jnp.concatenate([x0[None], hist]) if trace else hist)

    def admm(xi, rho: float = default_rho):
        if not rho > 0:
            raise ValueError(f"admm: rho must be positive, got {rho!r}")
        xi = jnp.asarray(xi)
        return run(xi, jnp.asarray(rho, dtype=xi.dtype))

    return admm
