"""Learning around a solver (chapter 8): active-set laws, KKT certificates, an active-set solver, ρ labels.

Everything here works on a family's OSQP form ``family.qp(ξ)`` (P, q, A, l, u with only l, u depending on ξ,
the first ``n_eq`` rows equalities, the rest the identity on x: simple bounds) and needs no framework.

* :class:`ActiveSetLaws`: the strategies (sets of active bounds) seen in training and, for each, the affine
  law ξ ↦ (x, y) obtained from one KKT solve with those bounds held as equalities (for a fixed active set,
  the parametric QP's solution and multipliers are affine in ξ).
* :func:`kkt_certify`: primal feasibility, dual sign (complementarity) and stationarity to tolerances: an
  answer that passes is optimal, whoever proposed it.
* :func:`daqp_solve`: the active-set solver DAQP on the condensed form, per instance, with its own time.
* :func:`osqp_iterates`: OSQP's ADMM iteration (unscaled) in numpy, iterate by iterate, for plots.
* :func:`break_even`: after how many solves an offline cost is paid back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


def _bounds_part(family: Any) -> tuple[np.ndarray, np.ndarray, int]:
    qp = family.qp()
    n_eq = qp.n_eq
    return qp.l[0, n_eq:], qp.u[0, n_eq:], n_eq


def active_sets(family: Any, x: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Per-variable state of the simple bounds at x: +1 at the upper bound, −1 at the lower, 0 inside."""
    lo, hi, _ = _bounds_part(family)
    x = np.asarray(x, dtype=float)
    return np.where(x >= hi - tol, 1, np.where(x <= lo + tol, -1, 0)).astype(np.int8)


@dataclass(frozen=True)
class Certificate:
    """Per-instance KKT residuals and the verdict."""

    ok: np.ndarray
    primal: np.ndarray
    dual_sign: np.ndarray
    stationarity: np.ndarray


def kkt_certify(family: Any, x: np.ndarray, y: np.ndarray, xi: np.ndarray, *, tol_primal: float = 1e-9,
                tol_dual: float = 1e-9, tol_stat: float = 1e-8) -> Certificate:
    """Check the KKT conditions of the QP ``family.qp(ξ)`` at (x, y) in OSQP's sign convention.

    primal: violation of l ≤ A x ≤ u; dual sign: y_i > 0 only where row i is at its upper bound, y_i < 0 only at
    its lower bound (the largest multiplier on a row that is not at that bound); stationarity: ‖P x + q + Aᵀy‖∞.
    A convex QP's point passing all three is optimal up to these tolerances (non-finite rows fail).
    """
    qp = family.qp(xi, check_domain=False)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    A = qp.A.toarray()
    Ax = x @ A.T
    primal = np.maximum(np.max(Ax - qp.u, axis=1), np.max(qp.l - Ax, axis=1)).clip(min=0)
    scale = 1.0 + np.abs(qp.u).clip(max=1e6)
    at_up = Ax >= qp.u - 1e3 * tol_primal * scale
    at_lo = Ax <= qp.l + 1e3 * tol_primal * scale
    wrong = np.where(at_up, 0.0, np.maximum(y, 0)) + np.where(at_lo, 0.0, np.maximum(-y, 0))
    dual_sign = wrong.max(axis=1)
    stat = np.abs(x @ qp.P.toarray() + qp.q + y @ A).max(axis=1)
    finite = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    ok = finite & (primal <= tol_primal) & (dual_sign <= tol_dual) & (stat <= tol_stat)
    return Certificate(ok=ok, primal=np.where(finite, primal, np.inf), dual_sign=np.where(finite, dual_sign, np.inf),
                       stationarity=np.where(finite, stat, np.inf))


class ActiveSetLaws:
    """Strategies seen in training, each with its exact affine law ξ ↦ (x, y) from one KKT solve.

    ``strategies`` is ``(S, n)`` of −1/0/+1 (:func:`active_sets`), most frequent first.
    """

    def __init__(self, family: Any, strategies: np.ndarray, counts: np.ndarray | None = None):
        self.family = family
        self.strategies = np.asarray(strategies, dtype=np.int8)
        self.counts = np.ones(len(self.strategies), dtype=int) if counts is None else np.asarray(counts)
        qp = family.qp()
        self.n, self.n_eq, self.m = qp.P.shape[0], qp.n_eq, qp.A.shape[0]
        self.lo, self.hi = qp.l[0, self.n_eq:], qp.u[0, self.n_eq:]
        self.nxi = family.n_params
        E = getattr(family, "E_eq", None)
        if E is None:
            raise TypeError("ActiveSetLaws needs a family whose equality right-hand side is E_eq ξ")
        Kx, kx, Ky, ky = [], [], [], []
        P, Aeq = qp.P.toarray(), qp.A.toarray()[:self.n_eq]
        for s in self.strategies:
            a = np.flatnonzero(s)
            na = len(a)
            S = np.zeros((na, self.n))
            S[np.arange(na), a] = 1.0
            K = np.block([[P, Aeq.T, S.T], [Aeq, np.zeros((self.n_eq, self.n_eq + na))],
                          [S, np.zeros((na, self.n_eq + na))]])
            rhs_xi = np.vstack([np.zeros((self.n, self.nxi)), E, np.zeros((na, self.nxi))])
            rhs_c = np.concatenate([-qp.q, np.zeros(self.n_eq), np.where(s[a] > 0, self.hi[a], self.lo[a])])
            sol_xi, *_ = np.linalg.lstsq(K, rhs_xi, rcond=None)
            sol_c, *_ = np.linalg.lstsq(K, rhs_c, rcond=None)
            # OSQP's y: the equality multipliers, then one per bound row (zero where the bound is inactive)
            ymap_xi = np.zeros((self.m, self.nxi))
            ymap_c = np.zeros(self.m)
            ymap_xi[:self.n_eq] = sol_xi[self.n:self.n + self.n_eq]
            ymap_c[:self.n_eq] = sol_c[self.n:self.n + self.n_eq]
            ymap_xi[self.n_eq + a] = sol_xi[self.n + self.n_eq:]
            ymap_c[self.n_eq + a] = sol_c[self.n + self.n_eq:]
            Kx.append(sol_xi[:self.n])
            kx.append(sol_c[:self.n])
            Ky.append(ymap_xi)
            ky.append(ymap_c)
        self.Kx, self.kx = np.array(Kx), np.array(kx)
        self.Ky, self.ky = np.array(Ky), np.array(ky)

    @classmethod
    def from_solutions(cls, family: Any, x: np.ndarray, tol: float = 1e-7) -> tuple[ActiveSetLaws, np.ndarray]:
        """The distinct active sets of solutions ``x`` (most frequent first) and each row's strategy index."""
        act = active_sets(family, x, tol)
        uniq, inverse, counts = np.unique(act, axis=0, return_inverse=True, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return cls(family, uniq[order], counts[order]), rank[np.ravel(inverse)]

    def __len__(self) -> int:
        return len(self.strategies)

    def evaluate(self, xi: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of strategy ``ids[i]`` at ξ_i (batched: one gather and one small matmul per row)."""
        xi = np.asarray(xi, dtype=float)
        ids = np.asarray(ids)
        x = np.einsum("bij,bj->bi", self.Kx[ids], xi) + self.kx[ids]
        y = np.einsum("bij,bj->bi", self.Ky[ids], xi) + self.ky[ids]
        return x, y

    def index_of(self, act: np.ndarray) -> np.ndarray:
        """Strategy index of each active-set row (−1 where it is not among the known strategies)."""
        lookup = {s.tobytes(): i for i, s in enumerate(self.strategies)}
        return np.array([lookup.get(np.asarray(a, dtype=np.int8).tobytes(), -1) for a in act])

    def law_for(self, act: np.ndarray) -> ActiveSetLaws:
        """Laws for new active sets (e.g. those an active-set solver found), same family."""
        return ActiveSetLaws(self.family, act)


def daqp_solve(family: Any, xi: np.ndarray, *, primal_tol: float = 1e-9) -> dict[str, np.ndarray]:
    """DAQP on the condensed form (inputs only, states as general constraints), one instance at a time.

    Returns x (the sparse-form vector, states from the dynamics), the active set, DAQP's exit flag, its own
    solve time (setup + solve, as it reports them) and the wall time of each call.
    """
    import daqp

    c = family.condensed()
    nU = family.horizon * family.nu
    nX = family.horizon * family.nx
    xi = np.asarray(xi, dtype=float)
    x = np.full((len(xi), family.n_vars), np.nan)
    flag = np.zeros(len(xi), dtype=int)
    t_own = np.zeros(len(xi))
    t_wall = np.zeros(len(xi))
    u_hi, u_lo = c.w[:nU], -c.w[nU:2 * nU]
    H = np.ascontiguousarray(c.H)
    Gam = np.ascontiguousarray(c.Gamma)
    x_hi, x_lo = c.w[2 * nU:2 * nU + nX], -c.w[2 * nU + nX:]
    for i, x0 in enumerate(xi):
        t0 = time.perf_counter()
        f = c.F @ x0
        px = c.Phi @ x0
        bu = np.concatenate([u_hi, x_hi - px])
        bl = np.concatenate([u_lo, x_lo - px])
        U, _, exitflag, info = daqp.solve(H, f, Gam, bu, bl, primal_tol=primal_tol)
        t_wall[i] = time.perf_counter() - t0
        flag[i] = exitflag
        t_own[i] = float(info["solve_time"]) + float(info["setup_time"])
        if exitflag == 1:
            x[i] = np.concatenate([U, px + Gam @ U])
    return {"x": x, "flag": flag, "solve_time": t_own, "wall_time": t_wall}


def osqp_iterates(family: Any, xi: np.ndarray, K: int, *, x0: np.ndarray | None = None,
                  y0: np.ndarray | None = None, rho: float = 0.1, sigma: float = 1e-6,
                  alpha: float = 1.6) -> dict[str, np.ndarray]:
    """K iterations of OSQP's ADMM (no scaling, fixed ρ, ρ·1e3 on equality rows as OSQP does) on one instance.

    Returns the iterates x^k (K+1, n) and the primal ‖Ax − z‖∞ and dual ‖Px + q + Aᵀy‖∞ residuals.
    """
    qp = family.qp(np.asarray(xi, dtype=float)[None, :], check_domain=False)
    P, A, q, lo, hi = qp.P.toarray(), qp.A.toarray(), qp.q, qp.l[0], qp.u[0]
    n, m = A.shape[1], A.shape[0]
    r = np.full(m, rho)
    r[:qp.n_eq] *= 1e3
    M = np.linalg.inv(P + sigma * np.eye(n) + A.T @ (r[:, None] * A))
    x = np.zeros(n) if x0 is None else np.asarray(x0, dtype=float).copy()
    y = np.zeros(m) if y0 is None else np.asarray(y0, dtype=float).copy()
    z = np.clip(A @ x, lo, hi)
    xs, prim, dual = [x.copy()], [np.abs(A @ x - z).max()], [np.abs(P @ x + q + A.T @ y).max()]
    for _ in range(K):
        xt = M @ (sigma * x - q + A.T @ (r * z - y))
        zt = A @ xt
        x = alpha * xt + (1 - alpha) * x
        zr = alpha * zt + (1 - alpha) * z
        z_new = np.clip(zr + y / r, lo, hi)
        y = y + r * (zr - z_new)
        z = z_new
        xs.append(x.copy())
        prim.append(np.abs(A @ x - z).max())
        dual.append(np.abs(P @ x + q + A.T @ y).max())
    return {"x": np.array(xs), "primal": np.array(prim), "dual": np.array(dual)}


def break_even(offline_seconds: float, saved_per_solve: float) -> float:
    """Solves after which ``offline_seconds`` (labels + training) are paid back; inf if nothing is saved."""
    if not np.isfinite(offline_seconds) or offline_seconds < 0:
        raise ValueError(f"break_even: offline_seconds must be a non-negative number, got {offline_seconds!r}")
    return float(offline_seconds / saved_per_solve) if saved_per_solve > 0 else float("inf")


@dataclass(frozen=True)
class CertifiedSolve:
    """Answers of :func:`certified_solve`: x, y, and which stage produced each (0 … k−1: the i-th ranked
    strategy was certified; k: the fallback), whether the final answer is certified, and the times."""

    x: np.ndarray
    y: np.ndarray
    stage: np.ndarray
    certified: np.ndarray
    seconds_first: float
    seconds_fallback: float


def certified_solve(laws: ActiveSetLaws, scores: np.ndarray, xi: np.ndarray, *, top_k: int = 3,
                    **tol: float) -> CertifiedSolve:
    """Try the ``top_k`` highest-scoring strategies (one KKT law each), keep the first that the KKT check
    certifies; the rest fall back to DAQP, whose active set is turned into an exact law and certified again."""
    xi = np.asarray(xi, dtype=float)
    n = len(xi)
    t0 = time.perf_counter()
    ranked = np.argsort(-scores, axis=1)[:, :top_k]
    x = np.full((n, laws.n), np.nan)
    y = np.full((n, laws.m), np.nan)
    stage = np.full(n, top_k)
    done = np.zeros(n, dtype=bool)
    for k in range(ranked.shape[1]):
        rows = np.flatnonzero(~done)
        if not rows.size:
            break
        xk, yk = laws.evaluate(xi[rows], ranked[rows, k])
        ok = kkt_certify(laws.family, xk, yk, xi[rows], **tol).ok
        x[rows[ok]], y[rows[ok]], stage[rows[ok]] = xk[ok], yk[ok], k
        done[rows[ok]] = True
    t1 = time.perf_counter()
    rows = np.flatnonzero(~done)
    certified = done.copy()
    if rows.size:
        res = daqp_solve(laws.family, xi[rows])
        good = res["flag"] == 1
        act = active_sets(laws.family, np.nan_to_num(res["x"]))
        law = laws.law_for(act)
        xf, yf = law.evaluate(xi[rows], np.arange(len(rows)))
        cert = kkt_certify(laws.family, xf, yf, xi[rows], **tol).ok & good
        x[rows], y[rows] = np.where(cert[:, None], xf, res["x"]), np.where(cert[:, None], yf, np.nan)
        certified[rows] = cert
    return CertifiedSolve(x=x, y=y, stage=stage, certified=certified, seconds_first=t1 - t0,
                          seconds_fallback=time.perf_counter() - t1)
