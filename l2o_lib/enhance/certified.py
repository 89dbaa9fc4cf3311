"""The certified active set as a solver session: classifier scores, region tests, an active-set fallback.

Per instance, the best-scoring strategy's region test (the KKT check of its law, :meth:`ActiveSetLaws.certify`),
then the next ones up to ``top_k``; the first that passes gives x (and y) by its law. This loop is compiled
(numba): each test stops at the first violated row. The rest go to DAQP, warm-started from the best-scoring
strategy's active set, and its answer is certified by the same KKT check (polished, where it falls short, by the
exact law of the active set DAQP found). Whoever proposes the answer, the
certificate decides; the learning only decides how often the cheap path is taken.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from l2o_lib.enhance.kkt import active_sets, check_tolerances
from l2o_lib.enhance.laws import ActiveSetLaws
from l2o_lib.problems.solution import OPTIMAL
from l2o_lib.solvers import DAQPSession, SolveResult

#: the status of an instance whose answer did not pass the KKT check (DAQP failed, or its answer was off)
UNCERTIFIED = "not certified"


@dataclass(frozen=True)
class CertifiedResult(SolveResult):
    """A :class:`~l2o_lib.solvers.SolveResult` (status :data:`OPTIMAL` where the answer is certified) plus
    ``stage``: 0 … k−1 where the i-th ranked strategy was certified, k where the fallback answered; and the
    batch's seconds in the region tests and in the fallback."""

    stage: np.ndarray = None  # type: ignore[assignment]
    seconds_first: float = 0.0
    seconds_fallback: float = 0.0

    @property
    def certified(self) -> np.ndarray:
        """Mask of the certified answers (the same as ``ok``)."""
        return self.ok


class OneAnswer(NamedTuple):
    """:meth:`CertifiedSolver.solve_one`'s answer: the plan x, its stage, whether it is certified."""

    x: np.ndarray
    stage: int
    certified: bool


class CertifiedSolver:
    """Certified answers from a strategy classifier: ``solve(xi)`` for a batch, ``solve_one(x)`` for one instance.

    ``laws`` are the strategies' affine laws and regions; ``scores`` maps ξ (batch, n_ξ) to one score per
    strategy (batch, S) (a :class:`~l2o_lib.compiled.CompiledMLP`, whose ``one`` serves one instance, or any batch
    callable). ``top_k`` strategies are tested per instance; ``warm_fallback`` starts DAQP from the best-scoring
    strategy's active set. The tolerances are those of :func:`~l2o_lib.enhance.kkt_certify`.
    """

    def __init__(self, laws: ActiveSetLaws, scores: Callable[[np.ndarray], np.ndarray], *, top_k: int = 3,
                 warm_fallback: bool = True, tol_primal: float = 1e-9, tol_dual: float = 1e-9, tol_stat: float = 1e-8):
        if not isinstance(laws, ActiveSetLaws):
            raise TypeError(f"CertifiedSolver: laws must be ActiveSetLaws, got {type(laws).__name__}")
        if not callable(scores):
            raise TypeError(f"CertifiedSolver: scores must be callable on a batch of ξ, got {type(scores).__name__}")
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"CertifiedSolver: top_k must be a positive integer, got {top_k!r}")
        self.tol = check_tolerances("CertifiedSolver", tol_primal=tol_primal, tol_dual=tol_dual, tol_stat=tol_stat)
        self.laws, self.scores, self.warm_fallback = laws, scores, bool(warm_fallback)
        self.top_k = min(int(top_k), len(laws))
        self.regions = laws.region(**self.tol)
        one = getattr(scores, "one", None)
        self._one_scores = one if callable(one) else (lambda x: np.asarray(scores(x[None, :]), dtype=float)[0])
        self._fallback: DAQPSession | None = None
        self._tried = np.empty(self.top_k, dtype=np.int64)
        self._kernels = _kernels()

    @property
    def fallback(self) -> DAQPSession:
        """The active-set solver behind the region tests, set up on first use."""
        if self._fallback is None:
            self._fallback = DAQPSession(self.laws.family)
        return self._fallback

    def _scores(self, sc: Any, batch: int, owner: str) -> np.ndarray:
        sc = np.asarray(sc)
        if sc.shape != (batch, len(self.laws)) or sc.dtype.kind != "f":
            raise ValueError(f"{owner}: the classifier must give float scores of shape {(batch, len(self.laws))}, "
                             f"got {sc.shape} {sc.dtype}")
        return np.ascontiguousarray(sc, dtype=np.float32 if sc.dtype == np.float32 else float)

    def solve(self, xi: Any, *, scores: np.ndarray | None = None, duals: bool = True) -> CertifiedResult:
        """Certified answers for a batch ξ (batch, n_ξ); ``scores`` precomputed (else the classifier's).

        ``duals=False`` skips forming y for the instances certified by a law (NaN there). ``wall_time`` is the
        region tests' share per instance plus, for a fallback instance, its DAQP call.
        """
        laws = self.laws
        xi = np.ascontiguousarray(laws.check_xi(xi, "CertifiedSolver.solve"))
        n = len(xi)
        t0 = time.perf_counter()
        sc = self._scores(self.scores(xi) if scores is None else scores, n, "CertifiedSolver.solve")
        reg = self.regions
        x = np.empty((n, laws.n))
        y = np.empty((n, laws.m))
        chosen = np.empty(n, dtype=np.int64)
        stage = np.empty(n, dtype=np.int64)
        best = np.empty(n, dtype=np.int64)
        self._kernels[0](sc, xi, reg.G, reg.rows, reg.radius, laws.x_law, laws.y_law, self.top_k, bool(duals),
                         chosen, stage, best, x, y)
        t1 = time.perf_counter()
        good = chosen >= 0
        stage[~good] = self.top_k
        status = np.where(good, OPTIMAL, UNCERTIFIED).astype(object)
        iters = np.zeros(n, dtype=int)
        first = (t1 - t0) / max(n, 1)
        solve_time, wall = np.full(n, first), np.full(n, first)
        rows = np.flatnonzero(~good)
        if rows.size:
            warm = laws.strategies[best[rows]] if self.warm_fallback else None
            res = self.fallback.solve(xi[rows], active=warm)
            rx, ry, cert = self._polish(xi[rows], res.x, res.y, res.ok)
            x[rows], y[rows] = rx, ry
            status[rows] = np.where(cert, OPTIMAL, np.where(res.ok, UNCERTIFIED, res.status))
            iters[rows] = res.iters
            solve_time[rows] += res.solve_time
            wall[rows] += res.wall_time
        return CertifiedResult(x=x, y=y, iters=iters, status=status.astype(str), solve_time=solve_time,
                               wall_time=wall, stage=stage, seconds_first=t1 - t0,
                               seconds_fallback=time.perf_counter() - t1)

    def solve_one(self, xi: np.ndarray, *, check: bool = True) -> OneAnswer:
        """One instance ξ (n_ξ,): the region tests of the top candidates, compiled, else DAQP warm-started.

        The path of a controller that answers one system per sampling instant. ``check=False`` leaves the
        fallback's answer to DAQP's own status (``certified`` is then DAQP's verdict), sparing the KKT check's
        tens of microseconds on the worst-case step.
        """
        xi = np.asarray(xi, dtype=float)
        if xi.shape != (self.laws.nxi,):
            raise ValueError(f"CertifiedSolver.solve_one: xi must have shape ({self.laws.nxi},), got {xi.shape}")
        sc = np.asarray(self._one_scores(xi))
        if sc.shape != (len(self.laws),):
            raise ValueError(f"CertifiedSolver.solve_one: the classifier gave scores of shape {sc.shape}, "
                             f"expected ({len(self.laws)},)")
        reg = self.regions
        x = np.empty(self.laws.n)
        s, best, stage = self._kernels[1](sc, xi, reg.G, reg.rows, reg.radius, self.laws.x_law, self.top_k,
                                          self._tried, x)
        if s >= 0:
            return OneAnswer(x, int(stage), True)
        res = self.fallback.solve(xi[None, :], active=self.laws.strategies[best][None, :] if self.warm_fallback else None)
        if not check:
            return OneAnswer(res.x[0], self.top_k, bool(res.ok[0]))
        rx, _, ok = self._polish(xi[None, :], res.x, res.y, res.ok)
        return OneAnswer(rx[0], self.top_k, bool(ok[0]))

    def _polish(self, xi: np.ndarray, x: np.ndarray, y: np.ndarray, solved: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fallback's answers, certified; one that fails the check is replaced by the exact law of the active
        set it found (one KKT solve on the family's own form, as OSQP's polishing does) where that law passes.

        DAQP solves the condensed QP, whose matrices carry powers of the dynamics: on a long horizon its answer can
        sit above the certificate's stationarity tolerance although its active set is right."""
        laws = self.laws
        cert = laws.kkt(x, y, xi, **self.tol).ok & solved
        redo = np.flatnonzero(solved & ~cert & np.isfinite(x).all(axis=1))
        if redo.size:
            x, y = x.copy(), y.copy()
            px, py = laws.polish(xi[redo], active_sets(laws.family, x[redo], bounds=(laws.lo, laws.hi)))
            good = laws.kkt(px, py, xi[redo], **self.tol).ok
            x[redo[good]], y[redo[good]] = px[good], py[good]
            cert[redo[good]] = True
        return x, y, cert

    def warm_up(self, xi: np.ndarray) -> None:
        """Load every path once (the compiled kernels, the classifier, DAQP's workspace) before timing."""
        xi = self.laws.check_xi(xi[:1], "CertifiedSolver.warm_up")
        self.solve(xi, duals=False)
        self.solve_one(xi[0])
        self.fallback.solve(xi)


@cache
def _kernels() -> tuple[Any, Any]:
    """The compiled loops of :meth:`CertifiedSolver.solve` (a batch) and :meth:`CertifiedSolver.solve_one`: the same
    candidate search and region tests, the arithmetic of :meth:`ActiveSetLaws.certify`. Callers check every
    array's shape first (the loops index without bounds checks)."""
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
