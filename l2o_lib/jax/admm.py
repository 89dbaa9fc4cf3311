"""Vanilla ADMM with slacks in JAX, batched: the baseline HUANet unrolls (chapter 7).

    (x, s)^{k+1} = argmin f(x) + ρ/2 ‖s − w^k + u^k‖²  s.t. A x = b, C x + s = d
    w^{k+1} = max(0, s^{k+1} + u^k),   u^{k+1} = u^k + s^{k+1} − w^{k+1}      (u = v/ρ)

The primal step is exact and cheap: for a QP it is one linear solve with a KKT matrix factorized once
(its inverse is precomputed: the system is tiny and the same for every instance and iteration); for the
entropy it is a few equality-constrained Newton steps, warm-started from the previous iterate.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from l2o_lib.jax.huanet import fraction_to_boundary, rhs, standard_form

jax.config.update("jax_enable_x64", True)


def make_admm(family: Any, iters: int, rho: float = 1.0, newton_steps: int = 8, *, trace: bool = False):
    """A jitted batched ``admm(ξ) -> (x, history)`` for ``family`` (entropy or param_qp).

    ``history`` holds, per iteration, the mean primal residual ‖s − w‖∞ and the mean inequality violation;
    with ``trace=True`` it is instead every iterate x^k, shape ``(iters + 1, batch, n)`` with x⁰ first.
    """
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"make_admm: iters must be a positive integer, got {iters!r}")
    if not rho > 0:
        raise ValueError(f"make_admm: rho must be positive, got {rho!r}")
    sf = standard_form(family)
    A, C = jnp.asarray(sf["A"]), jnp.asarray(sf["C"])
    n, me = A.shape[1], A.shape[0]

    if sf["kind"] == "affine":
        Q, p = np.asarray(family.Q), np.asarray(family.p)
        K = np.block([[Q + rho * sf["C"].T @ sf["C"], sf["A"].T], [sf["A"], np.zeros((me, me))]])
        Kinv = jnp.asarray(np.linalg.inv(K))

        def primal(x, t, b):
            rhs = jnp.concatenate([-jnp.asarray(p) + rho * t @ C, b], axis=1)
            return (rhs @ Kinv.T)[:, :n]
    else:
        CtC = rho * C.T @ C

        def primal(x, t, b):
            def newton(x, _):
                g = jnp.log(x) + 1.0 + rho * (x @ C.T - t) @ C
                H = jax.vmap(jnp.diag)(1.0 / x) + CtC
                ones = jnp.ones((x.shape[0], n, 1))
                top = jnp.concatenate([H, ones], axis=2)
                bottom = jnp.concatenate([jnp.ones((x.shape[0], 1, n)), jnp.zeros((x.shape[0], 1, 1))], axis=2)
                rhs = jnp.concatenate([-g, 1.0 - x.sum(axis=1, keepdims=True)], axis=1)
                dx = jnp.linalg.solve(jnp.concatenate([top, bottom], axis=1), rhs[..., None])[:, :n, 0]
                return x + fraction_to_boundary(x, dx) * dx, None

            return jax.lax.scan(newton, x, None, length=newton_steps)[0]

    @jax.jit
    def admm(xi):
        b, d = rhs(xi, sf)
        x0 = jnp.full((xi.shape[0], n), 1.0 / n)
        s0 = d - x0 @ C.T
        w0, u0 = jnp.maximum(s0, 0.0), jnp.zeros_like(s0)

        def step(carry, _):
            x, w, u = carry
            x = primal(x, d - w + u, b)
            s = d - x @ C.T
            w_new = jnp.maximum(s + u, 0.0)
            u = u + s - w_new
            if trace:
                return (x, w_new, u), x
            return (x, w_new, u), (jnp.abs(s - w_new).max(axis=1).mean(), jnp.maximum(-s, 0.0).max(axis=1).mean())

        (x, _, _), hist = jax.lax.scan(step, (x0, w0, u0), None, length=iters)
        return x, (jnp.concatenate([x0[None], hist]) if trace else hist)

    return admm
