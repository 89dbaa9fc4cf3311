"""Differentiable optimization layers in torch: projections and a batched QP layer (OptNet style).

Every function here is batched, works in float32 and float64 (float64 is what the gradient checks use),
on any device, and is differentiable with ``torch.autograd``:

* :func:`project_box` — Π_[lo, hi](x), a clamp whose gradient is 1 on free and 0 on clipped coordinates;
* :func:`project_affine` — Π_{Ax=b}(x) = x − Aᵀ(AAᵀ)⁻¹(Ax − b), in closed form;
* :func:`qp_solve` / :class:`QPLayer` — x*(Q, q, A, b, G, h) = argmin ½xᵀQx + qᵀx s.t. Ax = b, Gx ≤ h,
  solved by a batched primal-dual interior-point method (Mehrotra predictor-corrector) and differentiated
  through the KKT conditions at the solution (Amos & Kolter 2017), active set included;
* :func:`project_polytope` — Π_{Gx≤h, Ax=b}(x), the QP with Q = I, q = −x;
* :class:`LearnedCostQP` — a QP with known constraints and a learned cost (chapter 3's inverse QP).

Shapes. x, q, b, h are ``(batch, ·)`` or unbatched ``(·)``; Q, A, G are ``(batch, ·, ·)`` or unbatched
``(·, ·)``; unbatched inputs are shared by the whole batch (their gradient is summed over it). A or G may
be ``None`` when there are no equalities or inequalities. The batch size is the largest one given.

The backward pass of the QP (see :func:`qp_backward`) solves, per instance, one linear system with the
KKT matrix restricted to the active constraints (λᵢ > sᵢ at the solution). It assumes strict
complementarity and linearly independent active constraints; at a *weakly active* constraint
(λᵢ = 0 = sᵢ) the solution map has a kink and the gradient returned is the one of the side the solver
landed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["LearnedCostQP", "QPLayer", "QPSolution", "load_learned_cost_qp", "polish", "project_affine",
           "project_box", "project_polytope", "qp_backward", "qp_solve", "qp_solve_ipm"]


# ---------------------------------------------------------------------------- small helpers


def _check_finite(name: str, t: torch.Tensor) -> None:
    if t.device.type == "cpu" and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} has NaN or inf entries")


def _as_batched(name: str, t: torch.Tensor | None, ndim: int, batch: int) -> torch.Tensor | None:
    """``t`` with a leading batch dimension of size ``batch`` (a view when it was unbatched)."""
    if t is None:
        return None
    if t.dim() == ndim - 1:
        t = t.unsqueeze(0)
    if t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim - 1} (shared) or {ndim} (batched) dimensions, got shape "
                         f"{tuple(t.shape)}")
    if t.shape[0] not in (1, batch):
        raise ValueError(f"{name} has batch size {t.shape[0]}, expected 1 or {batch}")
    return t.expand(batch, *t.shape[1:])


def _batch_of(*pairs: tuple[torch.Tensor | None, int]) -> int:
    sizes = {int(t.shape[0]) for t, nd in pairs if t is not None and t.dim() == nd}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"inputs have different batch sizes {sorted(sizes)}")
    return sizes.pop() if sizes else 1


# ---------------------------------------------------------------------------- projections


def project_box(x: torch.Tensor, lo: torch.Tensor | float, hi: torch.Tensor | float) -> torch.Tensor:
    """Π_[lo, hi](x) = min(max(x, lo), hi), elementwise; ``lo``/``hi`` broadcast against ``x``.

    Differentiable in x, lo and hi (gradient 1 where the bound is the output, 0 elsewhere).
    """
    lo_t = torch.as_tensor(lo, dtype=x.dtype, device=x.device)
    hi_t = torch.as_tensor(hi, dtype=x.dtype, device=x.device)
    if lo_t.device.type == "cpu" and bool((lo_t > hi_t).any()):
        raise ValueError("project_box: some lower bound exceeds its upper bound (the box is empty)")
    return torch.minimum(torch.maximum(x, lo_t), hi_t)


def project_affine(x: torch.Tensor, A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Π_{Ax=b}(x) = x − Aᵀ(AAᵀ)⁻¹(Ax − b), batched; A must have full row rank.

    x ``(batch, n)``; A ``(m, n)`` or ``(batch, m, n)``; b ``(m,)`` or ``(batch, m)``.
    Differentiable in x, A and b.
    """
    if x.dim() != 2:
        raise ValueError(f"project_affine: x must have shape (batch, n), got {tuple(x.shape)}")
    batch, n = x.shape
    A_b = _as_batched("project_affine: A", A, 3, batch)
    b_b = _as_batched("project_affine: b", b, 2, batch)
    if A_b.shape[2] != n or b_b.shape[1] != A_b.shape[1]:
        raise ValueError(f"project_affine: A {tuple(A.shape)}, b {tuple(b.shape)} and x {tuple(x.shape)} "
                         "do not fit (need A: (m, n), b: (m,))")
    r = torch.einsum("bmn,bn->bm", A_b, x) - b_b
    AAt = A_b @ A_b.transpose(1, 2)
    lam = torch.linalg.solve(AAt, r.unsqueeze(-1)).squeeze(-1)
    return x - torch.einsum("bmn,bm->bn", A_b, lam)


# ---------------------------------------------------------------------------- the QP: forward


@dataclass
class QPSolution:
    """Primal-dual solution of a batch of QPs.

    ``x`` (batch, n); ``lam`` (batch, m_ineq) ≥ 0, the multipliers of Gx ≤ h; ``nu`` (batch, m_eq) those of
    Ax = b; ``s`` = h − Gx ≥ 0 the slacks; ``converged`` (batch,) bool; ``iterations`` taken; ``residual``
    (batch,) the final KKT residual (max of primal, dual and complementarity, relative).
    """

    x: torch.Tensor
    lam: torch.Tensor
    nu: torch.Tensor
    s: torch.Tensor
    converged: torch.Tensor
    iterations: int
    residual: torch.Tensor


def _bmv(M: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (M @ v.unsqueeze(-1)).squeeze(-1)


def _bmtv(M: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (M.transpose(1, 2) @ v.unsqueeze(-1)).squeeze(-1)


def _max_step(v: torch.Tensor, dv: torch.Tensor) -> torch.Tensor:
    """Largest α ≤ 1 with v + α dv ≥ 0, per row."""
    if v.shape[1] == 0:
        return torch.ones(v.shape[0], dtype=v.dtype, device=v.device)
    ratio = torch.where(dv < 0, -v / dv, torch.full_like(v, float("inf")))
    return torch.clamp(ratio.min(dim=1).values, max=1.0)


@torch.no_grad()
def qp_solve_ipm(Q: torch.Tensor, q: torch.Tensor, A: torch.Tensor, b: torch.Tensor, G: torch.Tensor,
                 h: torch.Tensor, *, tol: float | None = None, max_iter: int = 60) -> QPSolution:
    """Batched primal-dual interior point (Mehrotra predictor-corrector) for fully batched inputs.

    Q (B, n, n) symmetric PSD, q (B, n), A (B, p, n), b (B, p), G (B, m, n), h (B, m); p or m may be 0.
    Each iteration eliminates the slacks and inequality multipliers and solves the reduced KKT system
    [[Q + Gᵀ diag(λ/s) G, Aᵀ], [A, 0]] once (LU), reused by the predictor and the corrector.
    """
    B, n = q.shape
    p, m = A.shape[1], G.shape[1]
    dtype, dev = q.dtype, q.device
    if tol is None:
        tol = 1e-10 if dtype == torch.float64 else 1e-5
    eye = torch.eye(n, dtype=dtype, device=dev)
    reg = 1e-13 if dtype == torch.float64 else 1e-7
    scale = 1.0 + torch.stack([q.abs().amax(1), b.abs().amax(1) if p else q.new_zeros(B),
                               h.abs().amax(1) if m else q.new_zeros(B)]).amax(0)

    def factor(w: torch.Tensor):
        H = Q + G.transpose(1, 2) @ (w.unsqueeze(-1) * G) + reg * eye
        if p:
            K = torch.cat([torch.cat([H, A.transpose(1, 2)], 2),
                           torch.cat([A, -reg * torch.eye(p, dtype=dtype, device=dev).expand(B, p, p)], 2)], 1)
        else:
            K = H
        return torch.linalg.lu_factor(K)

    def solve(lu, rhs_x: torch.Tensor, rhs_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rhs = torch.cat([rhs_x, rhs_y], 1) if p else rhs_x
        sol = torch.linalg.lu_solve(*lu, rhs.unsqueeze(-1)).squeeze(-1)
        return sol[:, :n], sol[:, n:]

    # initial point (CVXOPT's): min ½xᵀQx + qᵀx + ½‖s‖² s.t. Gx + s = h, Ax = b; then shift s, λ inside
    lu = factor(torch.ones(B, m, dtype=dtype, device=dev))
    x, nu = solve(lu, -q + _bmtv(G, h), b)
    s = h - _bmv(G, x)
    lam = -s.clone()
    if m:
        a_s = -s.min(1, keepdim=True).values
        s = torch.where(a_s < 0, s, s + 1 + a_s)
        a_l = -lam.min(1, keepdim=True).values
        lam = torch.where(a_l < 0, lam, lam + 1 + a_l)

    def residuals():
        r_d = _bmv(Q, x) + q + _bmtv(G, lam) + _bmtv(A, nu)
        r_e = _bmv(A, x) - b
        r_i = _bmv(G, x) + s - h
        mu = (s * lam).sum(1) / max(m, 1)
        norm = torch.stack([r_d.abs().amax(1) if n else q.new_zeros(B), r_e.abs().amax(1) if p else q.new_zeros(B),
                            r_i.abs().amax(1) if m else q.new_zeros(B), mu]).amax(0) / scale
        return r_d, r_e, r_i, mu, torch.nan_to_num(norm, nan=float("inf"))

    # the best iterate of each instance is kept: in float32 the iterates can drift once round-off dominates
    best = [x, lam, nu, s]
    best_norm = torch.full((B,), float("inf"), dtype=dtype, device=dev)
    it = 0
    for it in range(1, max_iter + 1):
        r_d, r_e, r_i, mu, norm = residuals()
        better = norm < best_norm
        best = [torch.where(better[:, None], new, old) for new, old in zip((x, lam, nu, s), best)]
        best_norm = torch.minimum(norm, best_norm)
        if bool((best_norm < tol).all()):
            it -= 1
            break
        lu = factor(lam / s)

        def direction(r_c: torch.Tensor, lu=lu, r_d=r_d, r_e=r_e, r_i=r_i, lam=lam, s=s):
            # ds = −r_i − G dx;  dλ = (r_c − λ∘ds)/s;  reduced: (Q + GᵀWG) dx + Aᵀ dν = −r_d − Gᵀ((r_c + λ∘r_i)/s)
            dx, dnu = solve(lu, -r_d - _bmtv(G, (r_c + lam * r_i) / s), -r_e)
            ds = -r_i - _bmv(G, dx)
            dlam = (r_c - lam * ds) / s
            return dx, dnu, ds, dlam

        # predictor (affine scaling), then Mehrotra's centring + second-order corrector
        dx, dnu, ds, dlam = direction(-s * lam)
        if m:
            a_aff = torch.minimum(_max_step(s, ds), _max_step(lam, dlam))
            mu_aff = ((s + a_aff[:, None] * ds) * (lam + a_aff[:, None] * dlam)).sum(1) / m
            sigma = (mu_aff / mu.clamp_min(torch.finfo(dtype).tiny)).clamp(0, 1) ** 3
            dx, dnu, ds, dlam = direction(-s * lam + (sigma * mu)[:, None] - ds * dlam)
            alpha = (0.99 * torch.minimum(_max_step(s, ds), _max_step(lam, dlam))).clamp(max=1.0)
        else:
            alpha = torch.ones(B, dtype=dtype, device=dev)
        done = best_norm < tol
        alpha = torch.where(done, torch.zeros_like(alpha), alpha)[:, None]
        x, nu, s, lam = x + alpha * dx, nu + alpha * dnu, s + alpha * ds, lam + alpha * dlam
    *_, norm = residuals()
    better = norm < best_norm
    x, lam, nu, s = (torch.where(better[:, None], new, old) for new, old in zip((x, lam, nu, s), best))
    best_norm = torch.minimum(norm, best_norm)
    return QPSolution(x=x, lam=lam, nu=nu, s=s, converged=best_norm < tol * 10, iterations=it, residual=best_norm)


def _active_kkt(Q: torch.Tensor, A: torch.Tensor, G: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """[[Q, G_𝒜ᵀ, Aᵀ], [G_𝒜, −diag(1 − 𝒜), 0], [A, 0, 0]]: the KKT matrix with only the active rows of G."""
    B = Q.shape[0]
    p, m = A.shape[1], G.shape[1]
    Ga = active.unsqueeze(-1) * G
    zeros = Q.new_zeros
    return torch.cat([
        torch.cat([Q, Ga.transpose(1, 2), A.transpose(1, 2)], 2),
        torch.cat([Ga, -torch.diag_embed(1 - active), zeros(B, m, p)], 2),
        torch.cat([A, zeros(B, p, m), zeros(B, p, p)], 2),
    ], 1)


@torch.no_grad()
def polish(sol: QPSolution, Q: torch.Tensor, q: torch.Tensor, A: torch.Tensor, b: torch.Tensor, G: torch.Tensor,
           h: torch.Tensor, *, tol: float | None = None) -> QPSolution:
    """Solve the KKT equations exactly on the active set 𝒜 = {i: λᵢ > sᵢ} of an interior-point solution.

    An interior-point method stops with sᵢλᵢ small but not zero, which leaves x off by about √(sᵢλᵢ) when a
    constraint is close to weakly active. Polishing solves the equality-constrained QP with the active rows of G
    as equalities; per instance it is kept when the result is primal feasible and its multipliers are ≥ 0 (to
    ``tol`` relative), otherwise the interior-point solution stays.
    """
    n, m = q.shape[1], G.shape[1]
    if tol is None:
        tol = 1e-9 if q.dtype == torch.float64 else 1e-4
    active = (sol.lam > sol.s).to(q.dtype)
    rhs = torch.cat([-q, active * h, b], 1).unsqueeze(-1)
    try:
        z = torch.linalg.solve(_active_kkt(Q, A, G, active), rhs).squeeze(-1)
    except RuntimeError:  # a singular active set (LICQ fails): keep the interior-point solution
        return sol
    x, lam, nu = z[:, :n], z[:, n:n + m] * active, z[:, n + m:]
    s = torch.where(active > 0, torch.zeros_like(lam), h - _bmv(G, x))
    scale = 1.0 + q.abs().amax(1) + (h.abs().amax(1) if m else 0.0)
    ok = torch.isfinite(z).all(1)
    if m:
        ok &= ((_bmv(G, x) - h).amax(1) <= tol * scale) & (lam.amin(1) >= -tol * scale)
    keep = ok[:, None]
    return QPSolution(x=torch.where(keep, x, sol.x), lam=torch.where(keep, lam.clamp_min(0), sol.lam),
                      nu=torch.where(keep, nu, sol.nu), s=torch.where(keep, s.clamp_min(0), sol.s),
                      converged=sol.converged, iterations=sol.iterations, residual=sol.residual)


# ---------------------------------------------------------------------------- the QP: backward


def qp_backward(sol: QPSolution, Q: torch.Tensor, A: torch.Tensor, G: torch.Tensor,
                grad_x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients of a loss L(x*) w.r.t. (Q, q, A, b, G, h) from ∂L/∂x*, by the KKT conditions at x*.

    At the solution, F(x, λ, ν) = [Qx + q + Gᵀλ + Aᵀν; λ∘(Gx − h); Ax − b] = 0. Restricted to the active set
    𝒜 = {i: λᵢ > sᵢ} the adjoint system is

        [[Q, G_𝒜ᵀ, Aᵀ], [G_𝒜, 0, 0], [A, 0, 0]] [dₓ; w_𝒜; d_ν] = [−∂L/∂x; 0; 0],   w_i = 0 off 𝒜,

    and then ∂L/∂q = dₓ, ∂L/∂Q = ½(dₓxᵀ + xdₓᵀ), ∂L/∂b = −d_ν, ∂L/∂A = d_ν xᵀ + ν dₓᵀ,
    ∂L/∂h = −w, ∂L/∂G = w xᵀ + λ dₓᵀ (w = λ∘d_λ). All inputs batched; returns batched gradients.
    """
    x, lam, nu = sol.x, sol.lam, sol.nu
    n, p, m = x.shape[1], A.shape[1], G.shape[1]
    active = (lam > sol.s).to(x.dtype)  # (B, m): 1 on the active set 𝒜
    K = _active_kkt(Q, A, G, active)
    rhs = torch.cat([-grad_x, x.new_zeros(x.shape[0], m + p)], 1).unsqueeze(-1)
    d = torch.linalg.solve(K, rhs).squeeze(-1)
    dx, w, dnu = d[:, :n], d[:, n:n + m], d[:, n + m:]
    outer = torch.einsum
    return {
        "Q": 0.5 * (outer("bi,bj->bij", dx, x) + outer("bi,bj->bij", x, dx)),
        "q": dx,
        "A": outer("bi,bj->bij", dnu, x) + outer("bi,bj->bij", nu, dx),
        "b": -dnu,
        "G": outer("bi,bj->bij", w, x) + outer("bi,bj->bij", lam, dx),
        "h": -w,
    }


# ---------------------------------------------------------------------------- the QP: autograd glue


class _QPFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, Q, q, A, b, G, h, tol, max_iter, check, do_polish):  # type: ignore[override]
        sol = qp_solve_ipm(Q, q, A, b, G, h, tol=tol, max_iter=max_iter)
        if check and not bool(sol.converged.all()):
            bad = torch.nonzero(~sol.converged).flatten()[:10].tolist()
            raise ValueError(f"qp_solve: the interior-point method did not converge on instances {bad} "
                             f"(KKT residual {sol.residual.max().item():.2e} after {sol.iterations} iterations); "
                             "is the QP infeasible, unbounded, or Q not positive semidefinite?")
        if do_polish:
            sol = polish(sol, Q, q, A, b, G, h)
        ctx.save_for_backward(Q, A, G, sol.x, sol.lam, sol.nu, sol.s)
        ctx.mark_non_differentiable(sol.lam, sol.nu)
        return sol.x, sol.lam, sol.nu

    @staticmethod
    def backward(ctx, grad_x, grad_lam, grad_nu):  # type: ignore[override]
        Q, A, G, x, lam, nu, s = ctx.saved_tensors
        if grad_x is None:
            grad_x = torch.zeros_like(x)
        sol = QPSolution(x=x, lam=lam, nu=nu, s=s, converged=torch.ones(len(x), dtype=torch.bool), iterations=0,
                         residual=x.new_zeros(len(x)))
        g = qp_backward(sol, Q, A, G, grad_x)
        return g["Q"], g["q"], g["A"], g["b"], g["G"], g["h"], None, None, None, None


def qp_solve(Q: torch.Tensor, q: torch.Tensor, A: torch.Tensor | None = None, b: torch.Tensor | None = None,
             G: torch.Tensor | None = None, h: torch.Tensor | None = None, *, tol: float | None = None,
             max_iter: int = 60, check: bool = True, return_duals: bool = False,
             solver_dtype: torch.dtype | None = torch.float64, polish: bool = True):
    """x* = argmin ½xᵀQx + qᵀx s.t. Ax = b, Gx ≤ h, batched and differentiable in all six inputs.

    Shapes: see the module docstring (each input shared or batched). Q must be symmetric positive
    semidefinite (positive definite on the null space of A) and the QP feasible. Forward: batched
    interior point to a relative KKT residual ``tol`` (1e-10 in float64, 1e-5 in float32); ``check``
    raises ValueError naming the instances that did not converge. Backward: :func:`qp_backward`.
    Forward and backward run in ``solver_dtype`` (float64 by default, also for float32 inputs, since the
    KKT systems near the solution are ill-conditioned; ``None`` keeps the input dtype); x* comes back in
    the input dtype. ``polish`` (default) finishes with :func:`polish`: x* exact on the active set.
    Returns x* ``(batch, n)``, or ``(x*, λ, ν)`` with ``return_duals=True`` (duals not differentiable).
    """
    if (A is None) != (b is None) or (G is None) != (h is None):
        raise ValueError("qp_solve: give A with b and G with h (or neither of a pair)")
    if q.dim() not in (1, 2):
        raise ValueError(f"qp_solve: q must have shape (n,) or (batch, n), got {tuple(q.shape)}")
    n = q.shape[-1]
    batch = _batch_of((Q, 3), (q, 2), (A, 3), (b, 2), (G, 3), (h, 2))
    dtype, dev = q.dtype, q.device
    if A is None:
        A, b = torch.zeros(0, n, dtype=dtype, device=dev), torch.zeros(0, dtype=dtype, device=dev)
    if G is None:
        G, h = torch.zeros(0, n, dtype=dtype, device=dev), torch.zeros(0, dtype=dtype, device=dev)
    for name, t in (("Q", Q), ("q", q), ("A", A), ("b", b), ("G", G), ("h", h)):
        if t.dtype != dtype:
            raise ValueError(f"qp_solve: {name} has dtype {t.dtype} but q has {dtype}")
        _check_finite(f"qp_solve: {name}", t)
    Qb = _as_batched("qp_solve: Q", Q, 3, batch)
    qb = _as_batched("qp_solve: q", q, 2, batch)
    Ab = _as_batched("qp_solve: A", A, 3, batch)
    bb = _as_batched("qp_solve: b", b, 2, batch)
    Gb = _as_batched("qp_solve: G", G, 3, batch)
    hb = _as_batched("qp_solve: h", h, 2, batch)
    if Qb.shape[1:] != (n, n) or Ab.shape[2] != n or Gb.shape[2] != n:
        raise ValueError(f"qp_solve: shapes do not fit n = {n}: Q {tuple(Q.shape)}, A {tuple(A.shape)}, "
                         f"G {tuple(G.shape)}")
    if bb.shape[1] != Ab.shape[1] or hb.shape[1] != Gb.shape[1]:
        raise ValueError(f"qp_solve: A {tuple(A.shape)} does not fit b {tuple(b.shape)}, or G {tuple(G.shape)} "
                         f"does not fit h {tuple(h.shape)}")
    if Ab.shape[1] >= n + 1:
        raise ValueError(f"qp_solve: {Ab.shape[1]} equalities in {n} variables; A must have full row rank")
    Qs = 0.5 * (Qb + Qb.transpose(1, 2))
    wd = dtype if solver_dtype is None else solver_dtype
    x, lam, nu = _QPFunction.apply(*(t.to(wd) for t in (Qs, qb, Ab, bb, Gb, hb)), tol, max_iter, check, polish)
    x, lam, nu = x.to(dtype), lam.to(dtype), nu.to(dtype)
    return (x, lam, nu) if return_duals else x


class QPLayer(torch.nn.Module):
    """A QP as a layer: ``QPLayer(Q=..., G=..., h=...)`` fixes some inputs, ``forward`` takes the rest.

    >>> layer = QPLayer(Q=torch.eye(2, dtype=torch.float64), G=-torch.eye(2, dtype=torch.float64),
    ...                 h=torch.zeros(2, dtype=torch.float64))      # x ≥ 0
    >>> x = layer(q=torch.tensor([[1.0, -1.0]], dtype=torch.float64))  # ≈ [[0, 1]]

    Fixed inputs are stored as buffers (not trained); pass an ``nn.Parameter`` to learn them.
    Keyword arguments of ``forward`` override the fixed ones.
    """

    _NAMES = ("Q", "q", "A", "b", "G", "h")

    def __init__(self, *, tol: float | None = None, max_iter: int = 60, **fixed: torch.Tensor):
        super().__init__()
        unknown = set(fixed) - set(self._NAMES)
        if unknown:
            raise KeyError(f"QPLayer: unknown inputs {sorted(unknown)}; known: {self._NAMES}")
        self.tol, self.max_iter = tol, max_iter
        self._fixed = tuple(fixed)
        for k, v in fixed.items():
            if isinstance(v, torch.nn.Parameter):
                self.register_parameter(k, v)
            else:
                self.register_buffer(k, torch.as_tensor(v))

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        unknown = set(inputs) - set(self._NAMES)
        if unknown:
            raise KeyError(f"QPLayer: unknown inputs {sorted(unknown)}; known: {self._NAMES}")
        args = {k: getattr(self, k) for k in self._fixed}
        args.update(inputs)
        if "Q" not in args or "q" not in args:
            raise ValueError("QPLayer: Q and q are required (fixed at construction or given to forward)")
        return qp_solve(args["Q"], args["q"], args.get("A"), args.get("b"), args.get("G"), args.get("h"),
                        tol=self.tol, max_iter=self.max_iter)


def project_polytope(x: torch.Tensor, G: torch.Tensor | None = None, h: torch.Tensor | None = None,
                     A: torch.Tensor | None = None, b: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
    """Π_{Gx≤h, Ax=b}(x) = argmin_y ½‖y − x‖² s.t. Gy ≤ h, Ay = b, batched; differentiable in all inputs.

    x ``(batch, n)``; constraints shared or batched as in :func:`qp_solve` (keyword options pass through).
    """
    if x.dim() != 2:
        raise ValueError(f"project_polytope: x must have shape (batch, n), got {tuple(x.shape)}")
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return qp_solve(eye, -x, A, b, G, h, **kwargs)


# ---------------------------------------------------------------------------- a QP with a learned cost


class LearnedCostQP(torch.nn.Module):
    """y*_θ(ξ) = argmin_y ½yᵀdiag(c_θ)y + p_θᵀy s.t. Ay = ξ, Gy ≤ h: known constraints, learned cost.

    c_θ = softplus(raw_c) + 10⁻³ > 0 keeps the QP strictly convex; (raw_c, p) start at 0. Trained through
    :class:`QPLayer` (chapter 3, inverse optimization from observed decisions).
    """

    def __init__(self, A: Any, G: Any, h: Any, dtype: torch.dtype = torch.float64):
        super().__init__()
        A, G, h = (torch.tensor(np.asarray(a, dtype=float), dtype=dtype) for a in (A, G, h))
        n = A.shape[1]
        self.raw_c = torch.nn.Parameter(torch.zeros(n, dtype=dtype))
        self.p = torch.nn.Parameter(torch.zeros(n, dtype=dtype))
        self.qp = QPLayer(A=A, G=G, h=h)

    def cost(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned (c, p)."""
        return torch.nn.functional.softplus(self.raw_c) + 1e-3, self.p

    def forward(self, xi: torch.Tensor) -> torch.Tensor:
        c, p = self.cost()
        return self.qp(Q=torch.diag(c), q=p, b=xi)


def load_learned_cost_qp(family: Any, tensors: dict[str, np.ndarray], config: dict[str, Any]):
    """Pretrained-registry loader: a :class:`LearnedCostQP` on a QP family's A, G, h; returns batched predict."""
    from l2o_lib.problems.capabilities import QPForm, require

    require(family, QPForm, "load_learned_cost_qp")
    sf = family.standard_form()
    model = LearnedCostQP(sf.A, sf.G, sf.h0)
    missing = {"raw_c", "p"} - set(tensors)
    if missing:
        raise KeyError(f"load_learned_cost_qp: weights lack {sorted(missing)}")
    from l2o_lib.predict import numpy_predictor
    from l2o_lib.torch.nets import from_arrays

    return numpy_predictor(from_arrays(model, tensors, only_parameters=True))
