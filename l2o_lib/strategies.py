"""Learned strategies for mixed-integer problems (chapter 11): predict the integers, solve what is left.

A mixed-integer problem whose integers are fixed is convex. MLOPT (Bertsimas and Stellato, "Online mixed-integer
optimization in milliseconds") and CoCo (Cauligi et al.) turn the hard part into classification: the *strategy*
of an instance is the integer assignment of its optimum; the strategies seen in training are the classes; online,
a classifier ranks them, the convex problems of the top k are solved, the best feasible answer is returned, and
the mixed-integer solver runs only where none is feasible. Nothing here is specific to a family or a network:

* :func:`tight_strategy`: a solution's strategy, the sides it rests on (MLOPT's tight constraints);
* :class:`StrategyTable`: the distinct strategies of training solutions, most frequent first, with counts and the
  index of each training row (how many there are and how concentrated is the first lesson);
* :func:`top_k` (classifier scores) and :func:`neighbour_candidates` (the strategies of the nearest training
  instances) give each instance its candidates, best first;
* :func:`solve_candidates` solves the candidates' convex problems with any session (set up once, e.g.
  :class:`~l2o_lib.solvers.NullSpaceDAQPSession` or :class:`~l2o_lib.solvers.OSQPSession`), keeps the best
  feasible one, and calls the fallback on the rest.

The convex problem is a *form* with the integers among its parameters: ``form.theta(ξ, strategies)`` builds its
parameters θ, ``form.qp(θ)`` is its OSQP form (what the sessions consume), ``form.objective(x, θ)`` the mixed-integer
problem's objective at x and ``form.feasible(x, θ)`` whether x is feasible for it (a strategy that fixes only
the integers that matter, MLOPT's tight constraints, leaves the others to this check); e.g.
:class:`~l2o_lib.problems.FixedSidesQP`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2o_lib.problems.capabilities import MixedIntegerQP, require


def tight_strategy(family: MixedIntegerQP, session: Any, x: np.ndarray, xi: np.ndarray, *, tol: float = 1e-7
                   ) -> np.ndarray:
    """The sides each solution *rests on*, flattened: (batch, d) int8, 1 = enforced.

    The QP with the sides x satisfies enforced (``family.sides``) is solved exactly by ``session`` (set up on
    ``family.fixed_integer_qp()``, e.g. :class:`~l2o_lib.solvers.NullSpaceDAQPSession`), and the sides its
    solution touches (slack ≤ ``tol``) are kept: the QP with only those enforced has the same solution (the
    others' multipliers are zero), so they are the strategy that determines the optimum. The other binaries are
    free.
    """
    require(family, MixedIntegerQP, "tight_strategy")
    xi = np.asarray(xi, dtype=float)
    satisfied = family.sides(x, xi)
    res = session.solve(family.fixed_integer_qp().theta(xi, satisfied), check_domain=False)
    exact = np.where(res.ok[:, None], res.x, np.asarray(x, dtype=float))
    tight = satisfied & (family.side_slack(exact, xi) <= tol)
    return tight.reshape(len(xi), -1).astype(np.int8)


@dataclass(frozen=True)
class StrategyTable:
    """The distinct strategies of a set of solutions: ``strategies`` (S, d) most frequent first, ``counts`` (S,)."""

    strategies: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_assignments(cls, assignments: np.ndarray) -> tuple[StrategyTable, np.ndarray]:
        """The table of ``assignments`` (M, …) (each row one solution's integers) and each row's index in it."""
        a = np.asarray(assignments)
        if a.ndim < 2 or len(a) == 0:
            raise ValueError(f"StrategyTable: assignments must be a non-empty batch (M, ...), got shape {a.shape}")
        flat = a.reshape(len(a), -1).astype(np.int8)
        uniq, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return cls(uniq[order], counts[order]), rank[np.ravel(inverse)]

    def __len__(self) -> int:
        return len(self.strategies)

    def coverage(self, k: int) -> float:
        """Share of the training rows whose strategy is among the ``k`` most frequent."""
        return float(self.counts[:k].sum() / self.counts.sum())

    def lookup(self, assignments: np.ndarray) -> np.ndarray:
        """Index of each row's strategy in the table, −1 for a strategy the table does not hold."""
        flat = np.asarray(assignments).reshape(len(assignments), -1).astype(np.int8)
        if flat.shape[1] != self.strategies.shape[1]:
            raise ValueError(f"StrategyTable.lookup: rows have {flat.shape[1]} entries, strategies "
                             f"{self.strategies.shape[1]}")
        index = {row.tobytes(): i for i, row in enumerate(self.strategies)}
        return np.array([index.get(row.tobytes(), -1) for row in flat], dtype=np.int64)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` largest scores of each row, best first, (batch, k)."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"top_k: scores must be (batch, n_strategies), got shape {scores.shape}")
    k = _check_k(k, scores.shape[1], "top_k")
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def neighbour_candidates(train_xi: np.ndarray, train_ids: np.ndarray, xi: np.ndarray, k: int, *,
                         scale: np.ndarray | None = None, pool: int | None = None) -> np.ndarray:
    """The strategies of the nearest training instances, nearest first, without repeats, (batch, k).

    Distances are Euclidean in ξ / ``scale`` (e.g. the width of Ξ per entry); ``pool`` neighbours (default 8k) are
    searched for k distinct strategies, and a row that finds fewer repeats its last one.
    """
    from scipy.spatial import cKDTree

    train_xi, xi = np.asarray(train_xi, dtype=float), np.asarray(xi, dtype=float)
    scale = np.ones(train_xi.shape[1]) if scale is None else np.asarray(scale, dtype=float)
    k = _check_k(k, len(train_xi), "neighbour_candidates")
    pool = min(len(train_xi), pool or 8 * k)
    _, idx = cKDTree(train_xi / scale).query(xi / scale, k=pool)
    idx = np.asarray(idx).reshape(len(xi), pool)
    out = np.empty((len(xi), k), dtype=np.int64)
    for i, row in enumerate(np.asarray(train_ids)[idx]):
        _, first = np.unique(row, return_index=True)
        distinct = row[np.sort(first)][:k]
        out[i] = np.concatenate([distinct, np.full(k - len(distinct), distinct[-1])])
    return out


def _check_k(k: Any, n: int, where: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{where}: k must be a positive integer, got {k!r}")
    return min(int(k), n)


def _solve_feasible(form: Any, session: Any, theta: np.ndarray, repairs: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, θ, feasible): the session's answers, and which ``form.feasible`` accepts, after up to ``repairs``
    rounds in which an answer that was solved but rejected gets ``form.repair`` and is solved again."""
    theta = np.array(theta, dtype=float)
    x = np.full((len(theta), session.n), np.nan)
    good = np.zeros(len(theta), dtype=bool)
    todo = np.arange(len(theta))
    for round_ in range(repairs + 1):
        if round_:
            theta[todo] = form.repair(x[todo], theta[todo])
        res = session.solve(theta[todo], check_domain=False)
        solved = todo[res.ok]
        x[solved] = res.x[res.ok]
        if solved.size:
            good[solved] = form.feasible(x[solved], theta[solved])
        todo = solved[~good[solved]]
        if todo.size == 0:
            break
    return x, theta, good


@dataclass(frozen=True)
class StrategySolve:
    """What :func:`solve_candidates` returned for a batch.

    ``rank``: the rank (0 = the top candidate) of the answer returned, −1 where the relaxation or the fallback
    answered; ``relaxed``: the relaxation's answer was feasible, hence optimal (no candidate was tried);
    ``feasible`` (batch, k): which candidates' convex problems were solved (rows past the first feasible one are
    False when only the first was wanted); ``solved``: an answer came back (a candidate, or the fallback's).
    """

    x: np.ndarray
    objective: np.ndarray
    rank: np.ndarray
    relaxed: np.ndarray
    feasible: np.ndarray
    fallback: np.ndarray
    solved: np.ndarray
    seconds_candidates: float
    seconds_fallback: float

    def feasible_within(self, k: int) -> float:
        """Share of the instances with a feasible candidate among their first ``k``."""
        return float(self.feasible[:, :k].any(axis=1).mean())


def solve_candidates(form: Any, session: Any, strategies: np.ndarray, candidates: np.ndarray, xi: np.ndarray, *,
                     fallback: Callable[[np.ndarray], Any] | None = None, first_feasible: bool = False,
                     repairs: int = 0, relaxation: bool = False) -> StrategySolve:
    """Solve the convex problem of each instance's candidate strategies and keep the best feasible answer.

    ``candidates`` (batch, k) index ``strategies``, best first. Rank by rank, the session solves
    ``form.theta(ξ, strategy)`` for the instances still in play (all of them, or with ``first_feasible`` those
    without a feasible candidate yet); of the answers the session solved and ``form.feasible`` accepts, the
    one with the lowest ``form.objective`` wins. With ``repairs`` > 0, a candidate whose answer ``form.feasible``
    rejects is amended by ``form.repair(x, θ)`` (lazy constraints: what the answer violated is added) and solved
    again, up to that many times. With ``relaxation``, ``form.relaxation(ξ)`` (the convex relaxation, as a θ of
    the same form) is solved first: where its answer is feasible it is optimal, and no candidate is tried.
    Instances with no
    feasible candidate go to ``fallback(ξ_rows)`` (anything with ``x``, ``objective`` and ``ok``, e.g. the
    family's reference ``solve``); without one they come back as NaN, ``solved`` False.
    """
    xi = np.asarray(xi, dtype=float)
    candidates = np.asarray(candidates)
    if candidates.ndim != 2 or len(candidates) != len(xi):
        raise ValueError(f"solve_candidates: candidates must be (batch, k) with batch = {len(xi)}, got {candidates.shape}")
    n, k = candidates.shape
    t0 = time.perf_counter()
    x = np.full((n, session.n), np.nan)
    best = np.full(n, np.inf)
    rank = np.full(n, -1)
    feasible = np.zeros((n, k), dtype=bool)
    relaxed = np.zeros(n, dtype=bool)
    if relaxation:
        xs, theta, good = _solve_feasible(form, session, form.relaxation(xi), 0)
        relaxed[good] = True
        best[good], x[good] = form.objective(xs[good], theta[good]), xs[good]
    for j in range(k):
        rows = np.flatnonzero((rank < 0) & ~relaxed) if first_feasible else np.flatnonzero(~relaxed)
        if rows.size == 0:
            break
        xs, theta, good = _solve_feasible(form, session, form.theta(xi[rows], strategies[candidates[rows, j]]), repairs)
        ok = rows[good]
        feasible[ok, j] = True
        if ok.size:
            f = form.objective(xs[good], theta[good])
            better = f < best[ok]
            take = ok[better]
            best[take], x[take], rank[take] = f[better], xs[good][better], j
    t1 = time.perf_counter()
    none = (rank < 0) & ~relaxed
    solved = ~none
    if none.any() and fallback is not None:
        sol = fallback(xi[none])
        got = np.asarray(sol.ok)
        rows = np.flatnonzero(none)
        x[rows[got]], best[rows[got]] = sol.x[got], sol.objective[got]
        solved[rows[got]] = True
    best[~solved] = np.nan
    return StrategySolve(x=x, objective=best, rank=rank, relaxed=relaxed, feasible=feasible, fallback=none, solved=solved,
                         seconds_candidates=t1 - t0, seconds_fallback=time.perf_counter() - t1)
