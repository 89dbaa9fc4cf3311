"""HUANet (chapter 7): ADMM with slacks, unrolled, with a learned, hard-constrained primal step in each layer.

The problem is put in the standard form  min f(x; ξ) s.t. A x = b(ξ), G x ≤ h(ξ)  with b, h affine in ξ
(the family's ``standard_form()``; the pieces shared with plain ADMM are in :mod:`l2o_lib.jax.admm`). ADMM with
slack s, its copy w ≥ 0 and dual v, penalty ρ:

    x^{k+1} ≈ argmin_{A x = b} f(x) + ρ/2 ‖G x − h + w^k − v^k/ρ‖²      (the primal subproblem)
    s^{k+1} = h − G x^{k+1}
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
multiplier estimates μ = −v ≥ 0 of G x ≤ h at every layer (:func:`kkt_residuals`), which is what the
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

from l2o_lib.jax.admm import newton_direction, spd_solve, standard_form, start_point
from l2o_lib.problems.capabilities import StandardForm

__all__ = ["PARAM_KEYS", "init_params", "kkt_multipliers", "kkt_residuals", "load_predict",
           "newton_direction", "polish", "spd_solve", "standard_form", "start_point", "unroll"]

PARAM_KEYS = ("log_rho", "log_alpha", "relax", "W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")


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


def unroll(params: dict, xi: jax.Array, sf: StandardForm, *, layers: int | None = None):
    """Run the HUANet layers on a batch ξ; returns x^N and the per-layer (x^k, s^k, v^k) stacked over k.

    ``layers`` < trained depth runs only the first layers (to show what goes wrong).
    """
    G = jnp.asarray(sf.G)
    b, h = sf.rhs(xi)
    x0 = sf.start(xi)
    w0 = jnp.maximum(h - x0 @ G.T, 0.0)
    stack = {k: params[k] for k in PARAM_KEYS}
    if layers is not None:
        stack = {k: v[:layers] for k, v in stack.items()}

    def layer(carry, p):
        x, w, v = carry
        z = jnp.tanh(jnp.concatenate([xi, x, w, v], axis=1) @ p["W1"] + p["b1"])   # the MLP's hidden features
        z = jnp.tanh(z @ p["W2"] + p["b2"])
        rho = jnp.exp(p["log_rho"] + z @ p["W4"] + p["b4"])            # this instance's penalty, (batch, 1)
        u = v / rho
        g = sf.grad(x) + rho * (x @ G.T - h + w - u) @ G                 # gradient of the primal subproblem
        dx = newton_direction(x, g, b, rho, sf)
        step = jnp.exp(p["log_alpha"]) * dx + (z @ p["W3"] + p["b3"]) * jnp.linalg.norm(dx, axis=1, keepdims=True)
        x = sf.primal_update(x, step, b)
        s = h - x @ G.T                                                 # G x + s = h holds exactly
        s_hat = p["relax"] * s + (1.0 - p["relax"]) * w                 # (over-)relaxation
        w = jnp.maximum(s_hat + u, 0.0)                                 # projection of the slack onto s ≥ 0
        v = v + rho * (s_hat - w)                                       # dual update
        return (x, w, v), (x, s, v)

    (x, _, _), (xs, ss, vs) = jax.lax.scan(layer, (x0, w0, jnp.zeros_like(w0)), stack)
    return x, xs, ss, vs


def kkt_residuals(x: jax.Array, s: jax.Array, v: jax.Array, sf: StandardForm) -> dict[str, jax.Array]:
    """Squared KKT residuals per instance at (x, s = h − Gx) with ADMM's multiplier estimate μ = −v ≥ 0.

    ``stationarity`` ‖∇f + Aᵀλ + Gᵀμ‖² with λ the least-squares equality multiplier, ``slack`` ‖max(0, −s)‖²
    (the inequality violation), ``complementarity`` ‖μ ∘ s‖². All three are zero exactly at a KKT point.
    Works on any leading shape (e.g. layers × batch).
    """
    A, G = jnp.asarray(sf.A), jnp.asarray(sf.G)
    mu = -v
    r = sf.grad(x) + mu @ G
    r = r - (r @ jnp.asarray(sf.A_pinv)) @ A                           # remove the best Aᵀλ
    return {"stationarity": jnp.sum(r**2, -1), "slack": jnp.sum(jnp.maximum(-s, 0.0) ** 2, -1),
            "complementarity": jnp.sum((mu * s) ** 2, -1)}


def kkt_multipliers(x: jax.Array, sf: StandardForm) -> jax.Array:
    """Least-squares multipliers at x: μ of argmin_{λ, μ} ‖∇f(x) + Aᵀλ + Gᵀμ‖ (sign not constrained)."""
    return -sf.grad(x) @ jnp.asarray(sf.multiplier_map).T


def polish(x: jax.Array, xi: jax.Array, sf: StandardForm, steps: int, *, c: float = 1.0):
    """``steps`` semismooth-Newton steps on the KKT conditions from x (and the least-squares μ at x).

    Each step guesses the active set 𝒜 = {i : μᵢ + c·gᵢ(x) > 0} (gᵢ = (G x − h)ᵢ), then solves, batched,

        [ ∇²f   Aᵀ   Gᵀ    ] [Δx]   [ −∇f(x)              ]
        [ A     0    0     ] [λ ] = [ b − A x             ]
        [ a∘G   0   diag(1−a)] [μ ]   [ −a∘g(x)             ]    (aᵢ = 1 on 𝒜: Gᵢ(x+Δx) = hᵢ; else μᵢ = 0)

    and moves to x + Δx (shortened only where needed to stay in f's domain: the form's ``step_length``). When the guess is
    right and f is quadratic, one step lands on x*. The feasibility layer runs once more at the end, so
    A x = b holds to rounding. Returns x and the iterates stacked over the steps, shape (steps, batch, n).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"polish: steps must be a positive integer, got {steps!r}")
    A, G = jnp.asarray(sf.A), jnp.asarray(sf.G)
    b, h = sf.rhs(xi)
    (me, n), mi, batch = A.shape, G.shape[0], x.shape[0]
    AtGt = jnp.broadcast_to(jnp.concatenate([A.T, G.T], axis=1), (batch, n, me + mi))
    middle = jnp.broadcast_to(jnp.concatenate([A, jnp.zeros((me, me + mi))], axis=1), (batch, me, n + me + mi))

    def step(carry, _):
        x, mu = carry
        g = x @ G.T - h
        a = (mu + c * g > 0).astype(x.dtype)                      # the active-set guess
        bottom = jnp.concatenate([a[..., None] * G, jnp.zeros((batch, mi, me)), jax.vmap(jnp.diag)(1.0 - a)], axis=2)
        K = jnp.concatenate([jnp.concatenate([sf.hess(x), AtGt], axis=2), middle, bottom], axis=1)
        kkt_rhs = jnp.concatenate([-sf.grad(x), b - x @ A.T, -a * g], axis=1)
        sol = jnp.linalg.solve(K, kkt_rhs[..., None])[..., 0]
        dx, mu_new = sol[:, :n], sol[:, n + me:]
        alpha = sf.step_length(x, dx)                              # keeps x in f's domain (the entropy's x > 0)
        x = x + alpha * dx
        return (x, mu + alpha * (mu_new - mu)), x

    (x, _), xs = jax.lax.scan(step, (x, kkt_multipliers(x, sf)), None, length=steps)
    return sf.retract(x, b), xs



def load_predict(family: Any, tensors: dict[str, np.ndarray], config: dict[str, Any]):
    """Registry loader: rebuild a trained HUANet as a batched numpy ``predict(ξ) -> x`` (the layers alone).

    The weights are float64, and so is every call: it runs inside ``jax.enable_x64(True)``, a scoped switch, so
    loading or calling the model leaves the process's ``jax_enable_x64`` as it was.
    """
    if set(tensors) != set(PARAM_KEYS):
        raise KeyError(f"huanet weights: expected arrays {sorted(PARAM_KEYS)}, got {sorted(tensors)}")
    from l2o_lib.predict import numpy_predictor

    with jax.enable_x64(True):
        params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in tensors.items()}
    sf = standard_form(family)
    fn = jax.jit(lambda xi: unroll(params, xi, sf)[0])
    return numpy_predictor(fn, backend="jax")
