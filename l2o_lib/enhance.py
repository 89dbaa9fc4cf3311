"""Learning around a solver (chapter 8): active-set laws, KKT certificates, an active-set solver, ρ labels.

Everything here works on a family's OSQP form ``family.qp(ξ)`` (P, q, A, l, u with only l, u depending on ξ,
the first ``n_eq`` rows equalities, the rest the identity on x: simple bounds) and needs no framework.

* :class:`ActiveSetLaws`: the strategies (sets of active bounds) seen in training and, for each, the affine
  law ξ ↦ (x, y) obtained from one KKT solve with those bounds held as equalities (for a fixed active set,
  the parametric QP's solution and multipliers are affine in ξ), and its *critical region*: the ξ at which
  that law passes the KKT check, a polyhedron G_s [ξ; 1] ≤ 1 (explicit MPC's region of the strategy).
* :func:`kkt_certify`: primal feasibility, dual sign (complementarity) and stationarity to tolerances: an
  answer that passes is optimal, whoever proposed it.
* :func:`certified_solve`: classifier scores → the top strategies' region tests (batched) → DAQP for the rest.
* :func:`daqp_solve`: the active-set solver DAQP on the condensed form, per instance, with its own time,
  its multipliers in OSQP's form, and optionally a warm start from a predicted active set.
* :func:`osqp_iterates`: OSQP's ADMM iteration (unscaled) in numpy, iterate by iterate, for plots.
* :func:`break_even`: after how many solves an offline cost is paid back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from l2o_lib.solvers import DAQPResult, DAQPSession


def _bounds_part(family: Any) -> tuple[np.ndarray, np.ndarray, int]:
    qp = family.qp()
    n_eq = qp.n_eq
    return qp.l[0, n_eq:], qp.u[0, n_eq:], n_eq


def active_sets(family: Any, x: np.ndarray, tol: float = 1e-7, *,
                bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per-variable state of the simple bounds at x: +1 at the upper bound, −1 at the lower, 0 inside.

    ``bounds = (lo, hi)`` of the variables, when the caller holds them (the family's QP is not rebuilt).
    """
    lo, hi = _bounds_part(family)[:2] if bounds is None else bounds
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
    return _kkt(qp.P.toarray(), qp.q, qp.A.toarray(), qp.l, qp.u, x, y, tol_primal, tol_dual, tol_stat)


def _kkt(P: np.ndarray, q: np.ndarray, A: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray, y: np.ndarray,
         tol_primal: float, tol_dual: float, tol_stat: float) -> Certificate:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    Ax = x @ A.T
    primal = np.maximum(np.max(Ax - hi, axis=1), np.max(lo - Ax, axis=1)).clip(min=0)
    scale = 1.0 + np.abs(hi).clip(max=1e6)
    at_up = Ax >= hi - 1e3 * tol_primal * scale
    at_lo = Ax <= lo + 1e3 * tol_primal * scale
    wrong = np.where(at_up, 0.0, np.maximum(y, 0)) + np.where(at_lo, 0.0, np.maximum(-y, 0))
    dual_sign = wrong.max(axis=1)
    stat = np.abs(x @ P + q + y @ A).max(axis=1)
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
        self.Kx, self.kx = np.array(Kx).reshape(-1, self.n, self.nxi), np.array(kx).reshape(-1, self.n)
        self.Ky, self.ky = np.array(Ky).reshape(-1, self.m, self.nxi), np.array(ky).reshape(-1, self.m)
        # [K | k]: one gather and one batched mat-vec give x (or y) at [ξ; 1]
        self._x_law = np.concatenate([self.Kx, self.kx[..., None]], axis=2)
        self._y_law = np.concatenate([self.Ky, self.ky[..., None]], axis=2)
        self._P, self._A, self._q, self._E = P, qp.A.toarray(), qp.q, E
        self._residuals(P, self._A, qp.q, E)
        self._daqp: DAQPSession | None = None
        self._regions: dict[tuple[float, float, float], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _residuals(self, P: np.ndarray, A: np.ndarray, q: np.ndarray, E: np.ndarray) -> None:
        """How exactly each law satisfies what the region test takes for granted, as a_s ‖ξ‖∞ + b_s.

        Stationarity P x + q + Aᵀy, the equalities A_eq x − E ξ and the active bounds hold *identically in ξ*
        for an exact law; their residuals are affine in ξ, bounded by a ‖ξ‖∞ + b (a: the largest row sum of
        the ξ-coefficients, b: the largest constant). Checked once here, not per instance.
        """
        bound = np.where(self.strategies > 0, self.hi, self.lo)  # (S, n) the value an active bound pins
        stat_xi = np.einsum("ij,sjk->sik", P, self.Kx) + np.einsum("ji,sjk->sik", A, self.Ky)
        stat_c = self.kx @ P.T + q + self.ky @ A
        Aeq = A[:self.n_eq]
        eq_xi = np.einsum("ij,sjk->sik", Aeq, self.Kx) - E[None]
        eq_c = self.kx @ Aeq.T
        act = self.strategies != 0
        act_xi = np.where(act[..., None], self.Kx, 0.0)
        act_c = np.where(act, self.kx - np.where(act, bound, 0.0), 0.0)
        self.stat_res = (np.abs(stat_xi).sum(2).max(1), np.abs(stat_c).max(1))
        self.primal_res = (np.maximum(np.abs(eq_xi).sum(2).max(1, initial=0.0), np.abs(act_xi).sum(2).max(1)),
                           np.maximum(np.abs(eq_c).max(1, initial=0.0), np.abs(act_c).max(1)))

    def region(self, tol_primal: float = 1e-9, tol_dual: float = 1e-9, tol_stat: float = 1e-8
               ) -> tuple[np.ndarray, np.ndarray]:
        """The critical regions: (G, radius) with G (S, R, n_ξ + 1) and radius (S,).

        Strategy s's law is certified at ξ when every row of G_s [ξ; 1] is ≤ 1 and ‖ξ‖∞ ≤ radius_s. Rows (each
        divided by its tolerance): the inactive bounds lo ≤ x(ξ) ≤ hi, and the sign of each active bound's
        multiplier (≥ 0 at an upper bound, ≤ 0 at a lower one); padding rows are −1 ≤ 1. The radius is where
        the law's stationarity, equality and active-bound residuals (bounded once, :meth:`_residuals`) stay
        within tolerance: very large for an exact law, −1 (never) for a degenerate one. A point this test
        accepts passes :func:`kkt_certify`; the converse holds too wherever ‖ξ‖∞ is within the radius.
        """
        G, radius, _ = self._region(tol_primal, tol_dual, tol_stat)
        return G, radius

    def _region(self, tol_primal: float = 1e-9, tol_dual: float = 1e-9, tol_stat: float = 1e-8
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`region` and each strategy's number of rows before the padding, built once per tolerance."""
        key = (float(tol_primal), float(tol_dual), float(tol_stat))
        if key not in self._regions:
            self._regions[key] = self._build_region(*key)
        return self._regions[key]

    def _build_region(self, tol_p: float, tol_d: float, tol_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        S, nxi = len(self.strategies), self.nxi
        rows = []
        for s in range(S):
            st = self.strategies[s]
            free = np.flatnonzero(st == 0)
            up, lo = free[np.isfinite(self.hi[free])], free[np.isfinite(self.lo[free])]
            law = self._x_law[s]
            g = [law[up] - np.c_[np.zeros((len(up), nxi)), self.hi[up]],      # x − hi ≤ tol
                 np.c_[np.zeros((len(lo), nxi)), self.lo[lo]] - law[lo]]      # lo − x ≤ tol
            g = [r / tol_p for r in g]
            a_up, a_lo = np.flatnonzero(st > 0), np.flatnonzero(st < 0)
            dual = self._y_law[s, self.n_eq:]
            g += [-dual[a_up] / tol_d, dual[a_lo] / tol_d]                     # −y ≤ tol at upper, y ≤ tol at lower
            rows.append(np.vstack(g))
        R = max(len(r) for r in rows)
        G = np.zeros((S, R, nxi + 1))
        G[:, :, -1] = -1.0  # padding rows: −1 ≤ 1, always true
        for s, r in enumerate(rows):
            G[s, :len(r)] = r
        radius = np.full(S, np.inf)
        for (a, b), tol in ((self.stat_res, tol_s), (self.primal_res, tol_p)):
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(a > 0, (tol - b) / a, np.where(b <= tol, np.inf, -1.0))
            radius = np.minimum(radius, np.where(b > tol, -1.0, r))
        return G, radius, np.array([len(r) for r in rows], dtype=np.int64)

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
        xi1 = _with_one(xi)
        ids = np.asarray(ids)
        return (np.matmul(self._x_law[ids], xi1[:, :, None])[..., 0],
                np.matmul(self._y_law[ids], xi1[:, :, None])[..., 0])

    def certify(self, xi: np.ndarray, ids: np.ndarray, *, tol_primal: float = 1e-9, tol_dual: float = 1e-9,
                tol_stat: float = 1e-8) -> np.ndarray:
        """Whether strategy ``ids[i]``'s law passes the KKT check at ξ_i: the region test of :meth:`region`.

        The verdict of ``kkt_certify(family, *evaluate(xi, ids), xi)`` with these tolerances (within the
        radius, see :meth:`region`), without forming x and y: one gather and one (R × n_ξ) mat-vec per
        instance. Non-finite ξ fails.
        """
        G, radius = self.region(tol_primal, tol_dual, tol_stat)
        xi1 = _with_one(xi)
        ids = np.asarray(ids)
        worst = np.matmul(G[ids], xi1[:, :, None])[..., 0].max(axis=1)
        return (worst <= 1.0) & (np.abs(xi1[:, :-1]).max(axis=1) <= radius[ids])

    def certify_one(self, scores: np.ndarray, xi: np.ndarray, *, top_k: int = 3, tol_primal: float = 1e-9,
                    tol_dual: float = 1e-9, tol_stat: float = 1e-8) -> tuple[int, int, int, np.ndarray]:
        """One instance, compiled: (certified strategy or −1, best-scoring strategy, stage, x).

        The ``top_k`` best of ``scores`` (S,) are region-tested in turn at ``xi`` (n_ξ,), as
        :func:`certified_solve` does for a batch; x is the certified law's answer (NaN when none passed).
        """
        G, radius, nrows = self._region(tol_primal, tol_dual, tol_stat)
        scores, xi = np.asarray(scores, dtype=float), np.asarray(xi, dtype=float)
        if scores.shape != (len(self),) or xi.shape != (self.nxi,):
            raise ValueError(f"certify_one: scores must have shape ({len(self)},) and xi ({self.nxi},), "
                             f"got {scores.shape} and {xi.shape}")
        top_k = min(int(top_k), len(self))
        x = np.full(self.n, np.nan)
        s, best, stage = _kernels()[1](scores, xi, G, nrows, radius, self._x_law, top_k,
                                       np.empty(top_k, dtype=np.int64), x)
        return int(s), int(best), int(stage), x

    def kkt(self, x: np.ndarray, y: np.ndarray, xi: np.ndarray, *, tol_primal: float = 1e-9, tol_dual: float = 1e-9,
            tol_stat: float = 1e-8) -> Certificate:
        """:func:`kkt_certify` on the family's QP with the matrices held here (no QP is rebuilt per call)."""
        beq = np.asarray(xi, dtype=float) @ self._E.T
        lo = np.concatenate([beq, np.broadcast_to(self.lo, (len(beq), self.n))], axis=1)
        hi = np.concatenate([beq, np.broadcast_to(self.hi, (len(beq), self.n))], axis=1)
        return _kkt(self._P, self._q, self._A, lo, hi, x, y, tol_primal, tol_dual, tol_stat)

    def fallback_solver(self) -> DAQPSession:
        """The active-set solver behind :func:`certified_solve`, set up on first use."""
        if self._daqp is None:
            self._daqp = DAQPSession(self.family)
        return self._daqp

    def index_of(self, act: np.ndarray) -> np.ndarray:
        """Strategy index of each active-set row (−1 where it is not among the known strategies)."""
        lookup = {s.tobytes(): i for i, s in enumerate(self.strategies)}
        return np.array([lookup.get(np.asarray(a, dtype=np.int8).tobytes(), -1) for a in act])

    def law_for(self, act: np.ndarray) -> ActiveSetLaws:
        """Laws for new active sets (e.g. those an active-set solver found), same family."""
        return ActiveSetLaws(self.family, act)


def _with_one(xi: np.ndarray) -> np.ndarray:
    xi = np.asarray(xi, dtype=float)
    return np.concatenate([xi, np.ones((len(xi), 1))], axis=1)


def daqp_solve(family: Any, xi: np.ndarray, *, primal_tol: float = 1e-9, active: np.ndarray | None = None
               ) -> DAQPResult:
    """DAQP on the condensed form, one instance at a time (a :class:`~l2o_lib.solvers.DAQPSession` set up
    for this call): x, y in OSQP's form, exit flag, iterations, own and wall time per instance.
    ``active`` (batch, n) of −1/0/+1 (:func:`active_sets`) starts DAQP's working set there (a warm start)."""
    return DAQPSession(family, primal_tol=primal_tol).solve(xi, active=active)


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
    """Answers of :func:`certified_solve`: x, y, which stage produced each (0 … k−1: the i-th ranked
    strategy was certified; k: the fallback), whether the final answer is certified, and the times."""

    x: np.ndarray
    y: np.ndarray
    stage: np.ndarray
    certified: np.ndarray
    seconds_first: float
    seconds_fallback: float


def certified_solve(laws: ActiveSetLaws, scores: np.ndarray, xi: np.ndarray, *, top_k: int = 3,
                    duals: bool = True, warm_fallback: bool = True, **tol: float) -> CertifiedSolve:
    """Certified answers from classifier scores (batch, S) over ``laws``' strategies.

    Per instance, the best-scoring strategy's region test (:meth:`ActiveSetLaws.certify`, the KKT check), then
    the next ones up to ``top_k``; the first that passes gives x (and y) by its law. This loop is compiled
    (numba): each test stops at the first violated row. The rest go to DAQP, warm-started from the
    best-scoring strategy's active set (``warm_fallback``), whose answer passes :func:`kkt_certify` itself.
    ``duals=False`` skips forming y for the certified instances (NaN there).
    """
    xi = np.asarray(xi, dtype=float)
    scores = np.asarray(scores)
    n = len(xi)
    if scores.shape != (n, len(laws)):
        raise ValueError(f"certified_solve: scores must have shape {(n, len(laws))}, got {scores.shape}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"certified_solve: top_k must be a positive integer, got {top_k!r}")
    t0 = time.perf_counter()
    G, radius, nrows = laws._region(**tol)
    x = np.empty((n, laws.n))
    y = np.empty((n, laws.m))
    chosen = np.empty(n, dtype=np.int64)
    stage = np.empty(n, dtype=np.int64)
    best = np.empty(n, dtype=np.int64)
    _kernels()[0](np.ascontiguousarray(scores, dtype=scores.dtype if scores.dtype == np.float32 else float),
                  np.ascontiguousarray(xi), G, nrows, radius, laws._x_law, laws._y_law, int(min(top_k, len(laws))),
                  bool(duals), chosen, stage, best, x, y)
    stage[chosen < 0] = top_k
    good = chosen >= 0
    rows = np.flatnonzero(~good)
    t1 = time.perf_counter()
    certified = good.copy()
    if rows.size:
        warm = laws.strategies[best[rows]] if warm_fallback else None
        res = laws.fallback_solver().solve(xi[rows], active=warm)
        cert = laws.kkt(res.x, res.y, xi[rows], **tol).ok & res.ok
        x[rows], y[rows] = res.x, res.y
        certified[rows] = cert
    return CertifiedSolve(x=x, y=y, stage=stage, certified=certified, seconds_first=t1 - t0,
                          seconds_fallback=time.perf_counter() - t1)


@cache
def _kernels() -> tuple[Any, Any]:
    """The compiled loops of :func:`certified_solve` (a batch) and :meth:`ActiveSetLaws.certify_one` (one
    instance): the same candidate search and region tests, the arithmetic of :meth:`ActiveSetLaws.certify`."""
    import numba

    @numba.njit(cache=True)
    def candidates(scores, xi, G, nrows, radius, top_k, tried):  # pragma: no cover - compiled
        # the top_k best scores in turn; returns (certified strategy or −1, best strategy, stage)
        d = xi.shape[0]
        norm = 0.0
        for j in range(d):
            a = abs(xi[j])
            if not a <= norm:  # NaN propagates and fails every test below
                norm = a
        best = -1
        for k in range(top_k):
            s_best, v_best = -1, -np.inf
            for s in range(scores.shape[0]):
                v = scores[s]
                if v > v_best or s_best < 0:
                    new = True
                    for t in range(k):
                        if tried[t] == s:
                            new = False
                    if new:
                        s_best, v_best = s, v
            tried[k] = s_best
            if k == 0:
                best = s_best
            ok = norm <= radius[s_best]
            r = 0
            while ok and r < nrows[s_best]:
                acc = G[s_best, r, d]
                for j in range(d):
                    acc += G[s_best, r, j] * xi[j]
                ok = acc <= 1.0
                r += 1
            if ok:
                return s_best, best, k
        return -1, best, top_k

    @numba.njit(cache=True)
    def law(L, s, xi, out):  # pragma: no cover - compiled
        d = xi.shape[0]
        for p in range(L.shape[1]):
            acc = L[s, p, d]
            for j in range(d):
                acc += L[s, p, j] * xi[j]
            out[p] = acc

    @numba.njit(cache=True)
    def batch(scores, xi, G, nrows, radius, x_law, y_law, top_k, duals, chosen, stage, best, x, y):  # pragma: no cover
        tried = np.empty(top_k, dtype=np.int64)
        for i in range(xi.shape[0]):
            s, b, k = candidates(scores[i], xi[i], G, nrows, radius, top_k, tried)
            chosen[i], best[i], stage[i] = s, b, k
            if s >= 0:
                law(x_law, s, xi[i], x[i])
                if duals:
                    law(y_law, s, xi[i], y[i])
                else:
                    y[i, :] = np.nan
            else:
                x[i, :] = np.nan
                y[i, :] = np.nan

    @numba.njit(cache=True)
    def one(scores, xi, G, nrows, radius, x_law, top_k, tried, x):  # pragma: no cover - compiled
        s, b, k = candidates(scores, xi, G, nrows, radius, top_k, tried)
        if s >= 0:
            law(x_law, s, xi, x)
        return s, b, k

    return batch, one
