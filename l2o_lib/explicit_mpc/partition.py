"""The critical-region partition of a linear MPC's condensed QP over its box of initial states.

For a fixed active set A of the condensed QP (minimize ½UᵀHU + (Fξ)ᵀU subject to G U ≤ w + Eξ), the optimal
plan and multipliers are affine in ξ = x₀,

    λ_A(ξ) = −(G_A H⁻¹ G_Aᵀ)⁻¹ (w_A + (E_A + G_A H⁻¹ F) ξ),     U(ξ) = −H⁻¹ (F ξ + G_Aᵀ λ_A(ξ)),

and A is optimal exactly on the polyhedron where λ_A(ξ) ≥ 0 and the other rows hold, G_I U(ξ) ≤ w_I + E_I ξ:
its critical region. The regions of all optimal active sets partition the feasible initial states; stored
with their affine laws, they are explicit MPC (Bemporad, Morari, Dua and Pistikopoulos 2002).

:func:`build_partition` finds them by exploration: start from the region of the origin; for each region,
compute its vertices and its non-redundant facets (scipy's Qhull halfspace intersection from the Chebyshev
centre), step just across the middle of each facet and solve the QP there (DAQP, an exact active-set
solver) to get the neighbour's active set. Regions a step misses (a facet shared by several neighbours, a
thin region) are found by a completeness check: feasible states sampled from the family's sampler are located
in the regions found so far, and any state outside them seeds a new region. The build stops when a check
finds every sample inside a region, or at its time limit (``complete`` is False then).

Active sets are stored as the family's *strategies* (−1/0/+1 per variable of the sparse form, as
:func:`l2o_lib.enhance.active_sets` gives them), so a region and a certified-pipeline strategy can be compared
directly.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from l2o_lib.explicit_mpc.locate import locate_sequential
from l2o_lib.explicit_mpc.regions import Partition
from l2o_lib.problems.capabilities import LinearMPCForm, require

#: a region whose largest inscribed ball is smaller than this (relative to the box) is lower-dimensional
THIN = 1e-7
#: how far beyond a facet (relative to the box) the exploration solves the QP
STEP = 1e-6
#: two region rows closer than this (relative) are one hyperplane; a vertex this close to a row lies on it
ON_ROW = 1e-8


class _Condensed:
    """The condensed QP's matrices and the affine law and region of an active set."""

    def __init__(self, family: LinearMPCForm):
        from scipy.linalg import cho_factor, cho_solve

        c = family.condensed()
        self.N, self.nx, self.nu = family.horizon, family.nx, family.nu
        self.nU, self.nX = self.N * self.nu, self.N * self.nx
        self.G, self.w, self.E, self.F = c.G, c.w, c.E, c.F
        ch = cho_factor(c.H)
        self.HiF = cho_solve(ch, c.F)            # H⁻¹F  (nU, nx)
        self.HiGt = cho_solve(ch, c.G.T)         # H⁻¹Gᵀ (nU, m)
        self.d = family.nx
        self.xi_bound = _symmetric_bound(family)
        self.box = np.hstack([np.vstack([np.eye(self.d), -np.eye(self.d)]),
                              np.full((2 * self.d, 1), self.xi_bound)])

    def rows_of(self, strategy: np.ndarray) -> np.ndarray:
        """Condensed constraint rows of a strategy: u_j ≤ (row j), −u_j ≤ (nU + j), x_k ≤ (2nU + k), −x_k ≤."""
        nU, nX = self.nU, self.nX
        s = np.asarray(strategy)
        up, lo = np.flatnonzero(s > 0), np.flatnonzero(s < 0)
        rows = [up[up < nU], nU + lo[lo < nU], 2 * nU + (up[up >= nU] - nU), 2 * nU + nX + (lo[lo >= nU] - nU)]
        return np.sort(np.concatenate(rows))

    def law(self, strategy: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(plan law (nU, d+1), region rows [a, b] normalized, box included); None if LICQ fails or it is empty."""
        A = self.rows_of(strategy)
        d = self.d
        if len(A):
            GA = self.G[A]
            S = GA @ self.HiGt[:, A]
            rhs = np.hstack([self.E[A] + GA @ self.HiF, self.w[A][:, None]])  # w_A + (E_A + G_A H⁻¹F) ξ
            try:
                lam = -np.linalg.solve(S, rhs)                               # λ = lam [ξ; 1]
            except np.linalg.LinAlgError:
                return None
            if np.linalg.cond(S) > 1e12:
                return None
            plan = -np.hstack([self.HiF, np.zeros((self.nU, 1))]) - self.HiGt[:, A] @ lam
        else:
            lam = np.zeros((0, d + 1))
            plan = -np.hstack([self.HiF, np.zeros((self.nU, 1))])
        inactive = np.setdiff1d(np.arange(len(self.w)), A)
        # G_I U(ξ) − E_I ξ ≤ w_I  and  −λ(ξ) ≤ 0, as [a, b] with a·ξ ≤ b
        GI = self.G[inactive] @ plan
        primal = np.hstack([GI[:, :d] - self.E[inactive], (self.w[inactive] - GI[:, d])[:, None]])
        dual = np.hstack([-lam[:, :d], lam[:, d:]])
        rows = np.vstack([primal, dual])
        norm = np.linalg.norm(rows[:, :d], axis=1)
        flat = norm <= 1e-12 * (1 + np.abs(rows[:, d]))
        if np.any(flat & (rows[:, d] < -1e-9)):
            return None  # a row that no ξ satisfies
        rows = rows[~flat] / norm[~flat, None]
        return plan, np.vstack([rows, self.box])


def _chebyshev(rows: np.ndarray) -> tuple[np.ndarray, float]:
    from scipy.optimize import linprog

    d = rows.shape[1] - 1
    cost = np.zeros(d + 1)
    cost[-1] = -1.0
    A = np.hstack([rows[:, :d], np.ones((len(rows), 1))])  # unit normals: a·ξ + r ≤ b
    res = linprog(cost, A_ub=A, b_ub=rows[:, d], bounds=[(None, None)] * d + [(0, None)], method="highs")
    if res.status != 0:
        return np.zeros(d), -1.0
    return res.x[:d], float(res.x[d])


def _geometry(rows: np.ndarray, center: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, the rows that are facets), from Qhull's halfspace intersection around ``center``."""
    from scipy.spatial import HalfspaceIntersection

    d = rows.shape[1] - 1
    hs = HalfspaceIntersection(np.hstack([rows[:, :d], -rows[:, d:]]), center)
    verts = hs.intersections
    verts = verts[np.all(np.isfinite(verts), axis=1)]
    verts = np.unique(np.round(verts / scale, 12), axis=0) * scale
    slack = rows[:, d][None, :] - verts @ rows[:, :d].T          # (V, rows) ≥ 0
    on = np.abs(slack) <= ON_ROW * scale * 10
    facet = np.zeros(len(rows), dtype=bool)
    seen: list[np.ndarray] = []
    for i in range(len(rows)):
        pts = verts[on[:, i]]
        if len(pts) < d:
            continue
        if d > 1 and np.linalg.matrix_rank(pts[1:] - pts[0], tol=ON_ROW * scale * 10) < d - 1:
            continue
        if any(np.abs(rows[i] - r).max() <= ON_ROW * 10 for r in seen):
            continue  # the same hyperplane twice
        facet[i] = True
        seen.append(rows[i])
    return verts, facet


def _symmetric_bound(family: LinearMPCForm) -> float:
    """b of the family's box of initial states [−b, b]^nx (the exploration's geometry assumes that cube)."""
    lo, hi = np.asarray(family.param_low, dtype=float), np.asarray(family.param_high, dtype=float)
    b = float(hi.max(initial=0.0))
    if not (np.isfinite(b) and b > 0 and np.allclose(hi, b) and np.allclose(lo, -b)):
        raise ValueError(f"build_partition: needs a box of initial states [−b, b]^nx, got [{lo}, {hi}]")
    return b


def build_partition(family: LinearMPCForm, *, time_limit: float = 60.0, check_samples: int = 20000, seed: int = 0,
                    max_regions: int = 200_000, log: Any = None) -> Partition:
    """The critical regions of ``family``'s condensed QP (a LinearMPC) over its box, by facet exploration.

    ``check_samples`` feasible states (``family.sample(·, seed)``) are located in the regions found; each one
    outside them seeds a region, until a check passes or ``time_limit`` seconds (or ``max_regions``) are spent.
    """
    from l2o_lib.solvers import DAQPSession

    require(family, LinearMPCForm, "build_partition")
    if not (np.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"build_partition: time_limit must be a positive number of seconds, got {time_limit!r}")
    t0 = time.perf_counter()
    cq = _Condensed(family)
    d, scale = cq.d, cq.xi_bound
    session = DAQPSession(family)
    n_eq = family.n_eq

    def strategies_at(points: np.ndarray) -> list[np.ndarray | None]:
        res = session.solve(points)
        yb = res.y[:, n_eq:]
        return [np.sign(yb[i]).astype(np.int8) if res.ok[i] else None for i in range(len(points))]

    index: dict[bytes, int] = {}
    regions: list[dict[str, Any]] = []
    failed: set[bytes] = set()
    queue: list[np.ndarray] = []
    thin = 0

    def add(strategy: np.ndarray | None) -> None:
        nonlocal thin
        if strategy is None:
            return
        key = strategy.tobytes()
        if key in index or key in failed:
            return
        law = cq.law(strategy)
        if law is None:
            failed.add(key)
            return
        plan, rows = law
        center, r = _chebyshev(rows)
        if r < THIN * scale:
            failed.add(key)
            thin += 1
            return
        verts, facet = _geometry(rows, center, scale)
        index[key] = len(regions)
        regions.append({"strategy": strategy, "plan": plan, "rows": rows[facet], "vertices": verts,
                        "center": center, "radius": r})
        queue.append(np.int64(len(regions) - 1))

    def explore() -> bool:
        while queue:
            now = time.perf_counter() - t0
            if now > time_limit or len(regions) >= max_regions:
                return False
            if now - (history[-1][0] if history else 0.0) > time_limit / 20:
                history.append((now, len(regions), None))  # growth, between the checks
            reg = regions[int(queue.pop())]
            rows, verts = reg["rows"], reg["vertices"]
            on = np.abs(rows[:, d][None, :] - verts @ rows[:, :d].T) <= ON_ROW * scale * 10
            pts = []
            for i in range(len(rows)):
                if _is_box_row(rows[i], scale):
                    continue
                p = verts[on[:, i]].mean(axis=0) + STEP * scale * rows[i, :d]
                if np.all(np.abs(p) <= scale):
                    pts.append(p)
            if pts:
                for s in strategies_at(np.array(pts)):
                    add(s)
        return True

    history: list[tuple[float, int, float | None]] = []
    add(strategies_at(np.zeros((1, d)))[0])
    check = family.sample(check_samples, seed=seed)
    complete, coverage = False, 0.0

    def covered() -> np.ndarray:
        nonlocal coverage
        part = _assemble(regions, cq, family, t0, False, 0.0, 0, time_limit, thin)
        outside = np.flatnonzero(locate_sequential(part, check) < 0)
        coverage = 1.0 - len(outside) / len(check)
        history.append((time.perf_counter() - t0, len(regions), coverage))
        return outside

    while True:
        if not explore():
            covered()  # the share the regions found so far cover, at the time limit
            break
        outside = covered()
        if log:
            log(f"  {len(regions)} regions, {time.perf_counter() - t0:.1f} s, check: {len(outside)} of {len(check)} outside")
        if not len(outside):
            complete = True
            break
        before = len(regions)
        for s in strategies_at(check[outside[:64]]):
            add(s)
        if len(regions) == before:  # the missed states all lie in thin regions: nothing left to add
            complete = False
            break
    return _assemble(regions, cq, family, t0, complete, coverage, len(check), time_limit, thin, tuple(history))


def _is_box_row(row: np.ndarray, scale: float) -> bool:
    d = len(row) - 1
    a = np.abs(row[:d])
    return bool(np.isclose(a.max(), 1.0, atol=1e-12) and np.isclose(a.sum(), 1.0, atol=1e-12)
                and np.isclose(row[d], scale, rtol=1e-12))


def _assemble(regions: list[dict[str, Any]], cq: _Condensed, family: LinearMPCForm, t0: float, complete: bool,
              coverage: float, checked: int, time_limit: float, thin: int,
              history: tuple[tuple[float, int, float | None], ...] = ()) -> Partition:
    d = cq.d
    if not regions:
        raise RuntimeError(f"build_partition: no region found for {family.name} (is the origin infeasible?)")
    counts = np.array([len(r["rows"]) for r in regions])
    vcounts = np.array([len(r["vertices"]) for r in regions])
    return Partition(
        strategies=np.array([r["strategy"] for r in regions], dtype=np.int8),
        rows=np.ascontiguousarray(np.vstack([r["rows"] for r in regions])),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        plan_law=np.ascontiguousarray(np.array([r["plan"] for r in regions])),
        vertices=np.ascontiguousarray(np.vstack([r["vertices"] for r in regions])),
        vertex_offsets=np.concatenate([[0], np.cumsum(vcounts)]).astype(np.int64),
        center=np.array([r["center"] for r in regions]).reshape(-1, d),
        radius=np.array([r["radius"] for r in regions]),
        nu=cq.nu, xi_bound=cq.xi_bound, build_seconds=time.perf_counter() - t0, complete=complete,
        coverage=float(coverage), checked=int(checked), time_limit=float(time_limit), thin_skipped=int(thin),
        history=history)
