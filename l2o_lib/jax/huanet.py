"""HUANet (chapter 7): ADMM with slacks, unrolled, with a hard-constrained primal network in each layer.

The problem is put in the standard form  min f(x; ξ) s.t. A x = b(ξ), C x ≤ d(ξ)  with b, d affine in ξ
(:func:`standard_form`). Layer k takes (x^k, w^k, u^k = v^k/ρ) and returns

    x^{k+1} = feasibility_layer(x^k + MLP_k(ξ, x^k, w^k, u^k))      (A x = b exactly)
    s^{k+1} = d − C x^{k+1}                                          (C x + s = d exactly)
    w^{k+1} = max(0, s^{k+1} + u^k),   u^{k+1} = u^k + s^{k+1} − w^{k+1}

The feasibility layer is a softmax for the simplex (entropy: x > 0 and 1ᵀx = 1) or the affine projection
x̄ + A⁺(b − A x̄) otherwise. Parameters are a dict of plain arrays (stacked over layers, so ``lax.scan``
runs the layers), stored as safetensors, never pickled; :func:`load_predict` is the registry's loader.

:func:`polish` is an optional exact finishing step after the layers: a few semismooth-Newton (primal-dual
active-set) steps on the KKT conditions, started from the network's x^N and least-squares multipliers.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)


def standard_form(family: Any) -> dict[str, np.ndarray | str]:
    """A, b0, B, C, d0, D and the feasibility kind of a family, with b(ξ) = b0 + ξB and d(ξ) = d0 + ξD."""
    n, m = family.n_vars, family.n_params
    if family.name.startswith("entropy"):
        return dict(kind="simplex", A=np.ones((1, n)), b0=np.ones(1), B=np.zeros((m, 1)), C=family.C,
                    d0=np.zeros(family.n_ineq), D=np.eye(m))
    if family.name.startswith("param_qp"):
        return dict(kind="affine", A=family.A, b0=np.zeros(family.n_eq), B=np.eye(m), C=family.C,
                    d0=family.d, D=np.zeros((m, family.n_ineq)))
    raise KeyError(f"huanet.standard_form: no standard form for family {family.name!r} (entropy, param_qp)")


def init_params(key: jax.Array, family: Any, layers: int, hidden: int = 64) -> dict[str, jax.Array]:
    """Per-layer primal MLPs (stacked along axis 0) and one dual network, small random weights."""
    n, m, mi, me = family.n_vars, family.n_params, family.n_ineq, family.n_eq
    d_in = m + 2 * n + 2 * mi
    ks = jax.random.split(key, 5)

    def dense(k, shape, scale):
        return scale * jax.random.normal(k, shape, dtype=jnp.float64)

    return {
        "W1": dense(ks[0], (layers, d_in, hidden), 1 / np.sqrt(d_in)), "b1": jnp.zeros((layers, hidden)),
        "W2": dense(ks[1], (layers, hidden, hidden), 1 / np.sqrt(hidden)), "b2": jnp.zeros((layers, hidden)),
        "W3": dense(ks[2], (layers, hidden, n), 1e-2 / np.sqrt(hidden)), "b3": jnp.zeros((layers, n)),
        "log_step": jnp.full((layers,), np.log(0.5)),
        "D1": dense(ks[3], (m + n, hidden), 1 / np.sqrt(m + n)), "c1": jnp.zeros(hidden),
        "D2": dense(ks[4], (hidden, me + mi), 1e-2 / np.sqrt(hidden)), "c2": jnp.zeros(me + mi),
    }


def feasibility_layer(xbar: jax.Array, b: jax.Array, sf: dict, kind: str) -> jax.Array:
    """Enforce A x = b exactly: softmax onto the simplex (xbar are logits) or affine projection."""
    if kind == "simplex":
        return jax.nn.softmax(xbar, axis=-1)
    A = jnp.asarray(sf["A"])
    A_pinv = jnp.asarray(np.linalg.pinv(np.asarray(sf["A"])))
    return xbar + (b - xbar @ A.T) @ A_pinv.T


def rhs(xi: jax.Array, sf: dict) -> tuple[jax.Array, jax.Array]:
    """b(ξ) and d(ξ) of the standard form, batched."""
    return (jnp.asarray(sf["b0"]) + xi @ jnp.asarray(sf["B"]), jnp.asarray(sf["d0"]) + xi @ jnp.asarray(sf["D"]))


def start_point(xi: jax.Array, sf: dict) -> jax.Array:
    """x⁰ = feasibility_layer(0): the uniform point of the simplex, or A⁺b (the layers start here)."""
    b = rhs(xi, sf)[0]
    return feasibility_layer(jnp.zeros((xi.shape[0], sf["A"].shape[1]), dtype=xi.dtype), b, sf, sf["kind"])


def unroll(params: dict, xi: jax.Array, family: Any, sf: dict, *, layers: int | None = None):
    """Run the HUANet layers on a batch ξ; returns x^N and the per-layer (x^k, s^k) stacked over k.

    Each layer sees the gradient g of the ADMM primal subproblem at x^k and moves along a learned
    step plus an MLP correction (a learned mirror-descent step on the simplex, a learned projected
    gradient step otherwise), then the feasibility layer restores A x = b exactly.

    ``layers`` < trained depth runs only the first layers (to show what goes wrong).
    """
    kind = sf["kind"]
    C = jnp.asarray(sf["C"])
    b, d = rhs(xi, sf)
    x0 = start_point(xi, sf)
    s0 = d - x0 @ C.T
    w0, u0 = jnp.maximum(s0, 0.0), jnp.zeros_like(s0)
    stack = {k: params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3", "log_step")}

    def grad_f(x):
        return jax.grad(lambda z: family.objective(z, xi).sum())(x)

    if layers is not None:
        stack = {k: v[:layers] for k, v in stack.items()}

    def layer(carry, p):
        x, w, u = carry
        z = jnp.log(x) if kind == "simplex" else x       # the simplex layer works on logits
        g = grad_f(x) + (x @ C.T - d + w - u) @ C         # gradient of the ADMM primal subproblem (ρ = 1)
        h = jnp.tanh(jnp.concatenate([xi, x, g, w, u], axis=1) @ p["W1"] + p["b1"])
        h = jnp.tanh(h @ p["W2"] + p["b2"])
        x = feasibility_layer(z - jnp.exp(p["log_step"]) * g + h @ p["W3"] + p["b3"], b, sf, kind)
        s = d - x @ C.T                                   # C x + s = d holds exactly
        w_new = jnp.maximum(s + u, 0.0)                   # projection of the slack onto s ≥ 0
        u = u + s - w_new                                 # scaled dual update v/ρ
        return (x, w_new, u), (x, s)

    (x, _, _), (xs, ss) = jax.lax.scan(layer, (x0, w0, u0), stack)
    return x, xs, ss


def dual_net(params: dict, xi: jax.Array, x: jax.Array, n_eq: int) -> tuple[jax.Array, jax.Array]:
    """Multiplier estimates (λ for A x = b, μ ≥ 0 for C x ≤ d) from (ξ, x)."""
    h = jnp.tanh(jnp.concatenate([xi, x], axis=-1) @ params["D1"] + params["c1"])
    out = h @ params["D2"] + params["c2"]
    return out[..., :n_eq], jax.nn.softplus(out[..., n_eq:])


def fraction_to_boundary(x: jax.Array, dx: jax.Array, tau: float = 0.99) -> jax.Array:
    """Per-instance step α ≤ 1 with x + α dx > 0: at most τ of the way to the boundary x = 0."""
    ratio = jnp.where(dx < 0, -x / jnp.where(dx < 0, dx, -1.0), jnp.inf)
    return jnp.minimum(1.0, tau * ratio.min(axis=1, keepdims=True))


def _instance_derivatives(family: Any):
    """Batched ∇f and ∇²f of the family's own objective, one instance at a time (vmap over the batch)."""
    def f_one(z, p):
        return family.objective(z[None], p[None])[0]

    return jax.vmap(jax.grad(f_one)), jax.vmap(jax.hessian(f_one))


def kkt_multipliers(x: jax.Array, xi: jax.Array, family: Any, sf: dict) -> jax.Array:
    """Least-squares multipliers at x: μ of argmin_{λ, μ} ‖∇f(x) + Aᵀλ + Cᵀμ‖ (sign not constrained)."""
    grad, _ = _instance_derivatives(family)
    M_pinv = np.linalg.pinv(np.concatenate([sf["A"], sf["C"]], axis=0).T)             # (me + mi) × n, once
    return -grad(x, xi) @ jnp.asarray(M_pinv[sf["A"].shape[0]:]).T


def polish(x: jax.Array, xi: jax.Array, family: Any, sf: dict, steps: int, *, c: float = 1.0):
    """``steps`` semismooth-Newton steps on the KKT conditions from x (and the least-squares μ at x).

    Each step guesses the active set 𝒜 = {i : μᵢ + c·gᵢ(x) > 0} (gᵢ = (C x − d)ᵢ), then solves, batched,

        [ ∇²f   Aᵀ   Cᵀ    ] [Δx]   [ −∇f(x)              ]
        [ A     0    0     ] [λ ] = [ b − A x             ]
        [ a∘C   0   diag(1−a)] [μ ]   [ −a∘g(x)             ]    (aᵢ = 1 on 𝒜: Cᵢ(x+Δx) = dᵢ; else μᵢ = 0)

    and moves to x + Δx (shortened only where needed to keep the entropy's x > 0). When the guess is
    right and f is quadratic, one step lands on x*. The feasibility layer runs once more at the end, so
    A x = b holds to rounding. Returns x and the iterates stacked over the steps, shape (steps, batch, n).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"polish: steps must be a positive integer, got {steps!r}")
    A, C = jnp.asarray(sf["A"]), jnp.asarray(sf["C"])
    b, d = rhs(xi, sf)
    (me, n), mi, batch = A.shape, C.shape[0], x.shape[0]
    grad, hess = _instance_derivatives(family)
    AtCt = jnp.broadcast_to(jnp.concatenate([A.T, C.T], axis=1), (batch, n, me + mi))
    middle = jnp.broadcast_to(jnp.concatenate([A, jnp.zeros((me, me + mi))], axis=1), (batch, me, n + me + mi))

    def step(carry, _):
        x, mu = carry
        g = x @ C.T - d
        a = (mu + c * g > 0).astype(x.dtype)                      # the active-set guess
        bottom = jnp.concatenate([a[..., None] * C, jnp.zeros((batch, mi, me)), jax.vmap(jnp.diag)(1.0 - a)], axis=2)
        K = jnp.concatenate([jnp.concatenate([hess(x, xi), AtCt], axis=2), middle, bottom], axis=1)
        rhs = jnp.concatenate([-grad(x, xi), b - x @ A.T, -a * g], axis=1)
        sol = jnp.linalg.solve(K, rhs[..., None])[..., 0]
        dx, mu_new = sol[:, :n], sol[:, n + me:]
        alpha = fraction_to_boundary(x, dx) if sf["kind"] == "simplex" else 1.0   # keep the entropy's x > 0
        x = x + alpha * dx
        return (x, mu + alpha * (mu_new - mu)), x

    (x, _), xs = jax.lax.scan(step, (x, kkt_multipliers(x, xi, family, sf)), None, length=steps)
    x = feasibility_layer(jnp.log(x) if sf["kind"] == "simplex" else x, b, sf, sf["kind"])
    return x, xs


def load_predict(family: Any, tensors: dict[str, np.ndarray], config: dict[str, Any]):
    """Registry loader: rebuild a trained HUANet as a batched numpy ``predict(ξ) -> x``.

    With ``config["polish_steps"]`` = P > 0 the prediction is the layers' output followed by P
    :func:`polish` steps (the card says so); without it, the layers alone.
    """
    expected = {"W1", "b1", "W2", "b2", "W3", "b3", "log_step", "D1", "c1", "D2", "c2"}
    if set(tensors) != expected:
        raise KeyError(f"huanet weights: expected arrays {sorted(expected)}, got {sorted(tensors)}")
    params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in tensors.items()}
    sf = standard_form(family)
    steps = int(config.get("polish_steps", 0))

    def run(xi):
        x = unroll(params, xi, family, sf)[0]
        return polish(x, xi, family, sf, steps)[0] if steps > 0 else x

    fn = jax.jit(run)

    def predict(xi: np.ndarray) -> np.ndarray:
        return np.asarray(fn(jnp.asarray(xi, dtype=jnp.float64)))

    return predict
