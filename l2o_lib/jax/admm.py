"""Vanilla ADMM with slacks in JAX, batched: the baseline HUANet unrolls (chapter 7).

    (x, s)^{k+1} = argmin f(x) + ρ/2 ‖s − w^k + u^k‖²  s.t. A x = b, C x + s = d
    w^{k+1} = max(0, s^{k+1} + u^k),   u^{k+1} = u^k + s^{k+1} − w^{k+1}      (u = v/ρ)

The primal step is done efficiently, with the same Newton step HUANet's layers use
(:func:`l2o_lib.jax.huanet.newton_direction`): for a QP one step is exact; for the entropy ``newton_steps``
steps, warm-started from the previous iterate and damped to keep x > 0 (:func:`~l2o_lib.jax.huanet.primal_update`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from l2o_lib.jax.huanet import newton_direction, objective_grad, primal_update, rhs, standard_form, start_point

jax.config.update("jax_enable_x64", True)


def make_admm(family: Any, iters: int, rho: float = 1.0, newton_steps: int = 1, *, trace: bool = False):
    """A batched ``admm(ξ, rho=rho) -> (x, history)`` for ``family`` (entropy or param_qp), compiled once.

    ρ is an argument of the compiled function, not a constant: one ``make_admm`` serves every penalty
    (``admm(xi, 4.0)``) without compiling again. ``history`` holds, per iteration, the mean primal residual
    ‖s − w‖∞ and the mean inequality violation; with ``trace=True`` it is instead every iterate x^k, shape
    ``(iters + 1, batch, n)`` with x⁰ first.
    """
    for label, v in (("iters", iters), ("newton_steps", newton_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"make_admm: {label} must be a positive integer, got {v!r}")
    if not rho > 0:
        raise ValueError(f"make_admm: rho must be positive, got {rho!r}")
    default_rho = float(rho)
    sf = standard_form(family)
    C = jnp.asarray(sf["C"])
    steps = 1 if sf["kind"] == "affine" else newton_steps      # a QP's subproblem is solved by one step

    def primal(x, t, b, rho):
        for _ in range(steps):
            dx = newton_direction(x, objective_grad(x, sf) + rho * (x @ C.T - t) @ C, b, rho, sf)
            x = primal_update(x, dx, b, sf)
        return x

    @jax.jit
    def run(xi, rho):
        b, d = rhs(xi, sf)
        x0 = start_point(xi, sf)
        w0 = jnp.maximum(d - x0 @ C.T, 0.0)

        def step(carry, _):
            x, w, u = carry
            x = primal(x, d - w + u, b, rho)
            s = d - x @ C.T
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
        return run(xi, jnp.asarray(rho, dtype=jnp.float64))

    return admm
