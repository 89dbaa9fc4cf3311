"""HUANet (chapter 7): ADMM with slacks, unrolled, with a learned, hard-constrained primal step in each layer.

The problem is put in the standard form  min f(x; ξ) s.t. A x = b(ξ), C x ≤ d(ξ)  with b, d affine in ξ
(:func:`standard_form`). ADMM with slack s, its copy w ≥ 0 and dual v, penalty ρ:

    x^{k+1} ≈ argmin_{A x = b} f(x) + ρ/2 ‖C x − d + w^k − v^k/ρ‖²      (the primal subproblem)
    s^{k+1} = d − C x^{k+1}
    w^{k+1} = max(0, ŝ + v^k/ρ),   v^{k+1} = v^k + ρ (ŝ − w^{k+1}),   ŝ = a s^{k+1} + (1 − a) w^k

Layer k of HUANet makes every choice of this iteration learnable and leaves its structure intact:

* a small MLP reads (ξ, x^k, w^k, v^k) and sets the penalty ρ for *this instance* (ρ_k · e^{MLP}) and a
  correction to the primal step;
* the primal step is one Newton step on the subproblem (:func:`newton_direction`), scaled by a learned
  step α_k, plus the MLP correction multiplied by the Newton step's length (so it vanishes where the
  subproblem is solved), then the feasibility layer: a softmax for the simplex (x > 0, 1ᵀx = 1 exactly)
  or the affine projection x̄ + A⁺(b − A x̄);
* a learned relaxation a_k, then ADMM's slack projection and dual update unchanged.

At a fixed point the Newton step is zero, so the subproblem is solved and the fixed point is a KKT point:
the learned parts change how fast the layers get there, not where "there" is. ADMM's dual v gives the
multiplier estimates μ = −v ≥ 0 of C x ≤ d at every layer (:func:`kkt_residuals`), which is what the
self-supervised loss measures. Parameters are a dict of plain arrays stacked over layers (``lax.scan``
runs them), stored as safetensors, never pickled; :func:`load_predict` is the registry's loader.

:func:`polish` is the classical second-order baseline the chapter measures HUANet against: semismooth-Newton
(primal-dual active-set) steps on the KKT conditions, from any starting point.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

PARAM_KEYS = ("log_rho", "log_alpha", "relax", "W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")


def standard_form(family: Any) -> dict[str, Any]:
    """A, b0, B, C, d0, D, the feasibility kind and the smooth objective's pieces, with b(ξ) = b0 + ξB, d(ξ) = d0 + ξD."""
    n, m = family.n_vars, family.n_params
    if family.name.startswith("entropy"):
        return dict(kind="simplex", A=np.ones((1, n)), b0=np.ones(1), B=np.zeros((m, 1)), C=family.C,
                    d0=np.zeros(family.n_ineq), D=np.eye(m))
    if family.name.startswith("param_qp"):
        return dict(kind="affine", A=family.A, b0=np.zeros(family.n_eq), B=np.eye(m), C=family.C,
                    d0=family.d, D=np.zeros((m, family.n_ineq)), Q=family.Q, p=family.p)
    raise KeyError(f"huanet.standard_form: no standard form for family {family.name!r} (entropy, param_qp)")


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


def objective_grad(x: jax.Array, sf: dict) -> jax.Array:
    """∇f(x) of the standard form's objective: log x + 1 (negative entropy) or Q x + p."""
    if sf["kind"] == "simplex":
        return jnp.log(x) + 1.0
    return x @ jnp.asarray(sf["Q"]) + jnp.asarray(sf["p"])


def objective_hessian(x: jax.Array, sf: dict) -> jax.Array:
    """∇²f(x), batched (batch, n, n): diag(1/x) (negative entropy) or Q."""
    if sf["kind"] == "simplex":
        return jax.vmap(jnp.diag)(1.0 / x)
    return jnp.broadcast_to(jnp.asarray(sf["Q"]), (x.shape[0],) + np.shape(sf["Q"]))


def primal_update(x: jax.Array, step: jax.Array, b: jax.Array, sf: dict) -> jax.Array:
    """x + step, then the feasibility layer. On the simplex the step is damped to stay inside x > 0 (at most 99 %
    of the way to the boundary, :func:`fraction_to_boundary`) and the softmax of log(x + α step) renormalizes it;
    with α = 1 and 1ᵀstep = 0 that is exactly x + step. Damping, not clipping: no coordinate can reach 0, so a
    step far too large (out of distribution) slows the layers down instead of turning x into NaN.
    """
    if sf["kind"] == "simplex":
        return feasibility_layer(jnp.log(x + fraction_to_boundary(x, step) * step), b, sf, "simplex")
    return feasibility_layer(x + step, b, sf, sf["kind"])


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


def _nullspace_factor(sf: dict) -> tuple[np.ndarray, np.ndarray]:
    """For the QP: T and Λ with Z (Zᵀ(Q + ρCᵀC)Z)⁻¹ Zᵀ = T diag(1/(1 + ρΛ)) Tᵀ for every ρ > 0.

    Z spans the null space of A; with ZᵀQZ = LLᵀ and L⁻¹ZᵀCᵀCZL⁻ᵀ = UΛUᵀ, T = Z L⁻ᵀ U. Computed once, in numpy.
    """
    from scipy.linalg import cholesky, eigh, null_space, solve_triangular

    A, C, Q = (np.asarray(sf[k], dtype=float) for k in ("A", "C", "Q"))
    Z = null_space(A)
    L = cholesky(Z.T @ Q @ Z, lower=True)
    LiZt = solve_triangular(L, Z.T, lower=True)                       # L⁻¹Zᵀ
    lam, U = eigh(LiZt @ C.T @ C @ LiZt.T)
    return LiZt.T @ U, np.maximum(lam, 0.0)


def newton_direction(x: jax.Array, g: jax.Array, b: jax.Array, rho: jax.Array, sf: dict) -> jax.Array:
    """The Newton step dx of the ADMM primal subproblem at x: solve, batched,

        [ H   Aᵀ ] [dx]   [ −g      ]        H = ∇²f(x) + ρ CᵀC
        [ A   0  ] [λ ] = [ b − A x ],

    with ρ a scalar or one value per instance (shape (batch, 1)). No dense factorization per instance:
    for the entropy, ∇²f = diag(1/x) and H⁻¹ is applied through the Woodbury identity on the rank-m_I term
    ρCᵀC (one m_I × m_I solve per instance, :func:`spd_solve`); for the QP, ∇²f = Q is constant and the step is
    taken in the null space of A, where one eigendecomposition, done once, diagonalizes the reduced H for
    every ρ (:func:`_nullspace_factor`).
    """
    A, C = jnp.asarray(sf["A"]), jnp.asarray(sf["C"])
    batch, mi = x.shape[0], C.shape[0]
    rho = jnp.broadcast_to(jnp.reshape(jnp.asarray(rho, dtype=x.dtype), (-1, 1)), (batch, 1))
    if sf["kind"] == "affine":
        T, lam = (jnp.asarray(a) for a in _nullspace_factor(sf))
        dx_p = (b - x @ A.T) @ jnp.asarray(np.linalg.pinv(np.asarray(sf["A"]))).T    # A dx_p = b − A x
        grad = g + dx_p @ jnp.asarray(sf["Q"]) + rho * (dx_p @ C.T) @ C                # model gradient at x + dx_p
        return dx_p - ((grad @ T) / (1.0 + rho * lam)) @ T.T
    CDC = jnp.einsum("in,bn,jn->bij", C, x, C)                        # C diag(x) Cᵀ = C ∇²f⁻¹ Cᵀ
    S = CDC + jnp.eye(mi) / rho[:, :, None]

    def h_inv(Y):                          # (D + ρCᵀC)⁻¹ Y = D⁻¹Y − D⁻¹Cᵀ (I/ρ + C D⁻¹ Cᵀ)⁻¹ C D⁻¹ Y, D⁻¹ = diag(x)
        DY = x[:, :, None] * Y
        return DY - x[:, :, None] * jnp.einsum("in,bir->bnr", C, spd_solve(S, jnp.einsum("in,bnr->bir", C, DY)))

    Y = h_inv(jnp.concatenate([g[:, :, None], jnp.broadcast_to(A.T, (batch,) + A.T.shape)], axis=2))
    Hg, HAt = Y[:, :, 0], Y[:, :, 1:]
    lam = spd_solve(jnp.einsum("en,bnf->bef", A, HAt), (-(b - x @ A.T) - Hg @ A.T)[:, :, None])[:, :, 0]
    return -(Hg + jnp.einsum("bne,be->bn", HAt, lam))


def init_params(key: jax.Array, family: Any, layers: int, hidden: int = 32, rho: float = 3.0) -> dict[str, jax.Array]:
    """Per-layer parameters stacked along axis 0. At initialization the layers are exactly ADMM with penalty
    ``rho``, one full Newton step per primal update, no relaxation: the MLP's output weights start at zero.
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"huanet.init_params: layers must be a positive integer, got {layers!r}")
    if not rho > 0:
        raise ValueError(f"huanet.init_params: rho must be positive, got {rho!r}")
    n, m, mi = family.n_vars, family.n_params, family.n_ineq
    d_in = m + n + 2 * mi
    k1, k2 = jax.random.split(key)

    def dense(k, shape):
        return jax.random.normal(k, shape, dtype=jnp.float64) / np.sqrt(shape[-2])

    return {
        "log_rho": jnp.full((layers,), np.log(rho)), "log_alpha": jnp.zeros(layers), "relax": jnp.ones(layers),
        "W1": dense(k1, (layers, d_in, hidden)), "b1": jnp.zeros((layers, hidden)),
        "W2": dense(k2, (layers, hidden, hidden)), "b2": jnp.zeros((layers, hidden)),
        "W3": jnp.zeros((layers, hidden, n)), "b3": jnp.zeros((layers, n)),
        "W4": jnp.zeros((layers, hidden, 1)), "b4": jnp.zeros((layers, 1)),
    }


def unroll(params: dict, xi: jax.Array, sf: dict, *, layers: int | None = None):
    """Run the HUANet layers on a batch ξ; returns x^N and the per-layer (x^k, s^k, v^k) stacked over k.

    ``layers`` < trained depth runs only the first layers (to show what goes wrong).
    """
    C = jnp.asarray(sf["C"])
    b, d = rhs(xi, sf)
    x0 = start_point(xi, sf)
    w0 = jnp.maximum(d - x0 @ C.T, 0.0)
    stack = {k: params[k] for k in PARAM_KEYS}
    if layers is not None:
        stack = {k: v[:layers] for k, v in stack.items()}

    def layer(carry, p):
        x, w, v = carry
        h = jnp.tanh(jnp.concatenate([xi, x, w, v], axis=1) @ p["W1"] + p["b1"])
        h = jnp.tanh(h @ p["W2"] + p["b2"])
        rho = jnp.exp(p["log_rho"] + h @ p["W4"] + p["b4"])            # this instance's penalty, (batch, 1)
        u = v / rho
        g = objective_grad(x, sf) + rho * (x @ C.T - d + w - u) @ C     # gradient of the primal subproblem
        dx = newton_direction(x, g, b, rho, sf)
        step = jnp.exp(p["log_alpha"]) * dx + (h @ p["W3"] + p["b3"]) * jnp.linalg.norm(dx, axis=1, keepdims=True)
        x = primal_update(x, step, b, sf)
        s = d - x @ C.T                                                 # C x + s = d holds exactly
        s_hat = p["relax"] * s + (1.0 - p["relax"]) * w                 # (over-)relaxation
        w = jnp.maximum(s_hat + u, 0.0)                                 # projection of the slack onto s ≥ 0
        v = v + rho * (s_hat - w)                                       # dual update
        return (x, w, v), (x, s, v)

    (x, _, _), (xs, ss, vs) = jax.lax.scan(layer, (x0, w0, jnp.zeros_like(w0)), stack)
    return x, xs, ss, vs


def kkt_residuals(x: jax.Array, s: jax.Array, v: jax.Array, sf: dict) -> dict[str, jax.Array]:
    """Squared KKT residuals per instance at (x, s = d − Cx) with ADMM's multiplier estimate μ = −v ≥ 0.

    ``stationarity`` ‖∇f + Aᵀλ + Cᵀμ‖² with λ the least-squares equality multiplier, ``slack`` ‖max(0, −s)‖²
    (the inequality violation), ``complementarity`` ‖μ ∘ s‖². All three are zero exactly at a KKT point.
    Works on any leading shape (e.g. layers × batch).
    """
    A, C = jnp.asarray(sf["A"]), jnp.asarray(sf["C"])
    mu = -v
    r = objective_grad(x, sf) + mu @ C
    r = r - (r @ jnp.asarray(np.linalg.pinv(sf["A"]))) @ A             # remove the best Aᵀλ
    return {"stationarity": jnp.sum(r**2, -1), "slack": jnp.sum(jnp.maximum(-s, 0.0) ** 2, -1),
            "complementarity": jnp.sum((mu * s) ** 2, -1)}


def fraction_to_boundary(x: jax.Array, dx: jax.Array, tau: float = 0.99) -> jax.Array:
    """Per-instance step α ≤ 1 with x + α dx > 0: at most τ of the way to the boundary x = 0."""
    ratio = jnp.where(dx < 0, -x / jnp.where(dx < 0, dx, -1.0), jnp.inf)
    return jnp.minimum(1.0, tau * ratio.min(axis=1, keepdims=True))


def kkt_multipliers(x: jax.Array, sf: dict) -> jax.Array:
    """Least-squares multipliers at x: μ of argmin_{λ, μ} ‖∇f(x) + Aᵀλ + Cᵀμ‖ (sign not constrained)."""
    M_pinv = np.linalg.pinv(np.concatenate([sf["A"], sf["C"]], axis=0).T)             # (me + mi) × n, once
    return -objective_grad(x, sf) @ jnp.asarray(M_pinv[sf["A"].shape[0]:]).T


def polish(x: jax.Array, xi: jax.Array, sf: dict, steps: int, *, c: float = 1.0):
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
    AtCt = jnp.broadcast_to(jnp.concatenate([A.T, C.T], axis=1), (batch, n, me + mi))
    middle = jnp.broadcast_to(jnp.concatenate([A, jnp.zeros((me, me + mi))], axis=1), (batch, me, n + me + mi))

    def step(carry, _):
        x, mu = carry
        g = x @ C.T - d
        a = (mu + c * g > 0).astype(x.dtype)                      # the active-set guess
        bottom = jnp.concatenate([a[..., None] * C, jnp.zeros((batch, mi, me)), jax.vmap(jnp.diag)(1.0 - a)], axis=2)
        K = jnp.concatenate([jnp.concatenate([objective_hessian(x, sf), AtCt], axis=2), middle, bottom], axis=1)
        rhs = jnp.concatenate([-objective_grad(x, sf), b - x @ A.T, -a * g], axis=1)
        sol = jnp.linalg.solve(K, rhs[..., None])[..., 0]
        dx, mu_new = sol[:, :n], sol[:, n + me:]
        alpha = fraction_to_boundary(x, dx) if sf["kind"] == "simplex" else 1.0   # keep the entropy's x > 0
        x = x + alpha * dx
        return (x, mu + alpha * (mu_new - mu)), x

    (x, _), xs = jax.lax.scan(step, (x, kkt_multipliers(x, sf)), None, length=steps)
    x = feasibility_layer(jnp.log(x) if sf["kind"] == "simplex" else x, b, sf, sf["kind"])
    return x, xs



def load_predict(family: Any, tensors: dict[str, np.ndarray], config: dict[str, Any]):
    """Registry loader: rebuild a trained HUANet as a batched numpy ``predict(ξ) -> x`` (the layers alone)."""
    if set(tensors) != set(PARAM_KEYS):
        raise KeyError(f"huanet weights: expected arrays {sorted(PARAM_KEYS)}, got {sorted(tensors)}")
    params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in tensors.items()}
    sf = standard_form(family)
    fn = jax.jit(lambda xi: unroll(params, xi, sf)[0])

    def predict(xi: np.ndarray) -> np.ndarray:
        return np.asarray(fn(jnp.asarray(xi, dtype=jnp.float64)))

    return predict
