"""Strategies (sets of active bounds) with their exact affine laws and critical regions (explicit MPC's pieces).

For a fixed active set the parametric QP's solution and multipliers are affine in ξ: one KKT solve per strategy
gives the law ξ ↦ (x, y). The law is the optimum wherever it passes the KKT check, and that check is affine in
ξ: the strategy's *critical region*, a polyhedron G_s [ξ; 1] ≤ 1 whose rows are inflated by the tolerances
(explicit MPC's region of the strategy), valid within a radius in ‖ξ‖∞ (see :meth:`ActiveSetLaws.region`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from l2o_lib.enhance.kkt import Certificate, active_sets, check_tolerances, kkt
from l2o_lib.problems.capabilities import LinearMPCForm, require


@dataclass(frozen=True)
class Regions:
    """The critical regions at one set of tolerances: G (S, R, n_ξ + 1), radius (S,), rows (S,).

    Strategy s's law is certified at ξ when ‖ξ‖∞ ≤ radius_s and every row r < rows_s of G_s [ξ; 1] is ≤ 1
    (the rows beyond are padding, −1 ≤ 1).
    """

    G: np.ndarray
    radius: np.ndarray
    rows: np.ndarray


def with_one(xi: np.ndarray) -> np.ndarray:
    """[ξ, 1] row by row: the argument of an affine law or a region row."""
    xi = np.asarray(xi, dtype=float)
    return np.concatenate([xi, np.ones((len(xi), 1))], axis=1)


class ActiveSetLaws:
    """Strategies seen in training, each with its exact affine law ξ ↦ (x, y) from one KKT solve.

    ``strategies`` is ``(S, n)`` of −1/0/+1 (:func:`~l2o_lib.enhance.active_sets`), most frequent first.
    ``x_law`` (S, n, n_ξ + 1) and ``y_law`` (S, m, n_ξ + 1) hold each law as [K | k]: x = K ξ + k.
    """

    def __init__(self, family: LinearMPCForm, strategies: np.ndarray, counts: np.ndarray | None = None):
        require(family, LinearMPCForm, "ActiveSetLaws")
        self.family = family
        raw = np.asarray(strategies)
        qp = family.qp()
        self.n, self.n_eq, self.m = qp.P.shape[0], qp.n_eq, qp.A.shape[0]
        if raw.ndim != 2 or raw.shape[1] != self.n or len(raw) == 0:
            raise ValueError(f"ActiveSetLaws: strategies must have shape (S ≥ 1, {self.n}), got {raw.shape}")
        if raw.dtype.kind not in "iuf" or not np.all(np.isin(raw, (-1, 0, 1))):
            raise ValueError("ActiveSetLaws: strategies must hold only −1, 0 and +1 (lower bound, inactive, upper bound)")
        self.strategies = raw.astype(np.int8)
        self.counts = np.ones(len(self.strategies), dtype=int) if counts is None else np.asarray(counts)
        if self.counts.shape != (len(self.strategies),):
            raise ValueError(f"ActiveSetLaws: counts must have shape ({len(self.strategies)},), got {self.counts.shape}")
        self.lo, self.hi = qp.l[0, self.n_eq:], qp.u[0, self.n_eq:]
        self.nxi = family.n_params
        E = np.asarray(family.E_eq, dtype=float)
        Kx, kx, Ky, ky = [], [], [], []
        P, Aeq = qp.P.toarray(), qp.A.toarray()[:self.n_eq]
        self._P, self._Aeq, self._q, self._E = P, Aeq, qp.q, E
        for s in self.strategies:
            a, K, rhs_xi, rhs_c = self._kkt_system(s)
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
        self.x_law = np.concatenate([self.Kx, self.kx[..., None]], axis=2)
        self.y_law = np.concatenate([self.Ky, self.ky[..., None]], axis=2)
        for arr in (self.x_law, self.y_law):
            arr.setflags(write=False)
        self._A = qp.A.toarray()
        self._residuals(P, self._A, qp.q, E)
        self._regions: dict[tuple[float, float, float], Regions] = {}

    def _kkt_system(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Strategy s's equality-constrained KKT system K z = rhs_xi ξ + rhs_c, z = (x, ν, y of the active bounds),
        and the indices a of its active bounds."""
        a = np.flatnonzero(s)
        na = len(a)
        S = np.zeros((na, self.n))
        S[np.arange(na), a] = 1.0
        K = np.block([[self._P, self._Aeq.T, S.T], [self._Aeq, np.zeros((self.n_eq, self.n_eq + na))],
                      [S, np.zeros((na, self.n_eq + na))]])
        rhs_xi = np.vstack([np.zeros((self.n, self.nxi)), self._E, np.zeros((na, self.nxi))])
        rhs_c = np.concatenate([-self._q, np.zeros(self.n_eq), np.where(s[a] > 0, self.hi[a], self.lo[a])])
        return a, K, rhs_xi, rhs_c

    def polish(self, xi: np.ndarray, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) at each ξ_i from the KKT system of active set ``act[i]`` (batch, n), solved at that ξ alone: one
        LU solve per instance, the exact answer of a solver that found the right active set (OSQP's polishing)."""
        xi = self.check_xi(xi, "ActiveSetLaws.polish")
        act = np.asarray(act)
        if act.shape != (len(xi), self.n) or not np.all(np.isin(act, (-1, 0, 1))):
            raise ValueError(f"ActiveSetLaws.polish: act must have shape ({len(xi)}, {self.n}) with entries in "
                             f"{{-1, 0, 1}}, got {act.shape}")
        x, y = np.full((len(xi), self.n), np.nan), np.zeros((len(xi), self.m))
        for i in range(len(xi)):
            a, K, rhs_xi, rhs_c = self._kkt_system(act[i])
            try:
                z = np.linalg.solve(K, rhs_xi @ xi[i] + rhs_c)
            except np.linalg.LinAlgError:  # LICQ fails: no unique multipliers, no polished answer
                y[i] = np.nan
                continue
            x[i] = z[:self.n]
            y[i, :self.n_eq] = z[self.n:self.n + self.n_eq]
            y[i, self.n_eq + a] = z[self.n + self.n_eq:]
        return x, y

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

    def region(self, tol_primal: float = 1e-9, tol_dual: float = 1e-9, tol_stat: float = 1e-8) -> Regions:
        """The critical regions at these tolerances (built once per set of tolerances, then cached).

        Rows of G_s (each divided by its tolerance, so the region is the tolerance-inflated one): the inactive
        bounds lo ≤ x(ξ) ≤ hi, and the sign of each active bound's multiplier (≥ 0 at an upper bound, ≤ 0 at a
        lower one: with the inactive bounds' multipliers zero by construction, this is dual feasibility and
        complementary slackness); padding rows are −1 ≤ 1. The radius is where the law's stationarity,
        equality and active-bound residuals (bounded once, :meth:`_residuals`) stay within tolerance: very large
        for an exact law, −1 (never) for a degenerate one whose KKT system was singular (LICQ failing). A point
        this test accepts passes :func:`~l2o_lib.enhance.kkt_certify`; the converse holds too wherever ‖ξ‖∞ is
        within the radius.
        """
        tol = check_tolerances("ActiveSetLaws.region", tol_primal=tol_primal, tol_dual=tol_dual, tol_stat=tol_stat)
        key = (tol["tol_primal"], tol["tol_dual"], tol["tol_stat"])
        if key not in self._regions:
            self._regions[key] = self._build_region(*key)
        return self._regions[key]

    def _build_region(self, tol_p: float, tol_d: float, tol_s: float) -> Regions:
        S, nxi = len(self.strategies), self.nxi
        rows = []
        for s in range(S):
            st = self.strategies[s]
            free = np.flatnonzero(st == 0)
            up, lo = free[np.isfinite(self.hi[free])], free[np.isfinite(self.lo[free])]
            law = self.x_law[s]
            g = [law[up] - np.c_[np.zeros((len(up), nxi)), self.hi[up]],      # x − hi ≤ tol
                 np.c_[np.zeros((len(lo), nxi)), self.lo[lo]] - law[lo]]      # lo − x ≤ tol
            g = [r / tol_p for r in g]
            a_up, a_lo = np.flatnonzero(st > 0), np.flatnonzero(st < 0)
            dual = self.y_law[s, self.n_eq:]
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
        for arr in (G, radius):
            arr.setflags(write=False)
        return Regions(G=G, radius=radius, rows=np.array([len(r) for r in rows], dtype=np.int64))

    @classmethod
    def from_solutions(cls, family: LinearMPCForm, x: np.ndarray, tol: float = 1e-7) -> tuple[ActiveSetLaws, np.ndarray]:
        """The distinct active sets of solutions ``x`` (most frequent first) and each row's strategy index."""
        act = active_sets(family, x, tol)
        uniq, inverse, counts = np.unique(act, axis=0, return_inverse=True, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return cls(family, uniq[order], counts[order]), rank[np.ravel(inverse)]

    def __len__(self) -> int:
        return len(self.strategies)

    def check_xi(self, xi: Any, owner: str) -> np.ndarray:
        """ξ as a float array (batch, n_ξ), finite; ValueError naming ``owner`` otherwise."""
        try:
            xi = np.asarray(xi, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{owner}: xi must be a numeric array (batch, {self.nxi})") from None
        if xi.ndim != 2 or xi.shape[1] != self.nxi:
            raise ValueError(f"{owner}: xi must have shape (batch, {self.nxi}), got {xi.shape}")
        if not np.all(np.isfinite(xi)):
            bad = np.flatnonzero(~np.isfinite(xi).all(axis=1))
            raise ValueError(f"{owner}: xi has NaN or inf in row(s) {bad[:5].tolist()}")
        return xi

    def _ids(self, ids: Any, batch: int, owner: str) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.shape != (batch,) or ids.dtype.kind not in "iu":
            raise ValueError(f"{owner}: ids must be {batch} integer strategy indices, got shape {ids.shape} {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"{owner}: strategy indices must lie in [0, {len(self)}), got {ids.min()} … {ids.max()} "
                             "(−1 marks an unknown strategy: it has no law)")
        return ids

    def evaluate(self, xi: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of strategy ``ids[i]`` at ξ_i (batched: one gather and one small matmul per row)."""
        xi = self.check_xi(xi, "ActiveSetLaws.evaluate")
        ids = self._ids(ids, len(xi), "ActiveSetLaws.evaluate")
        xi1 = with_one(xi)
        return (np.matmul(self.x_law[ids], xi1[:, :, None])[..., 0],
                np.matmul(self.y_law[ids], xi1[:, :, None])[..., 0])

    def certify(self, xi: np.ndarray, ids: np.ndarray, *, tol_primal: float = 1e-9, tol_dual: float = 1e-9,
                tol_stat: float = 1e-8) -> np.ndarray:
        """Whether strategy ``ids[i]``'s law passes the KKT check at ξ_i: the region test of :meth:`region`.

        The verdict of ``kkt_certify(family, *evaluate(xi, ids), xi)`` with these tolerances (within the
        radius, see :meth:`region`), without forming x and y: one gather and one (R × n_ξ) mat-vec per
        instance.
        """
        reg = self.region(tol_primal, tol_dual, tol_stat)
        xi = self.check_xi(xi, "ActiveSetLaws.certify")
        ids = self._ids(ids, len(xi), "ActiveSetLaws.certify")
        xi1 = with_one(xi)
        worst = np.matmul(reg.G[ids], xi1[:, :, None])[..., 0].max(axis=1)
        return (worst <= 1.0) & (np.abs(xi).max(axis=1) <= reg.radius[ids])

    def kkt(self, x: np.ndarray, y: np.ndarray, xi: np.ndarray, *, tol_primal: float = 1e-9, tol_dual: float = 1e-9,
            tol_stat: float = 1e-8) -> Certificate:
        """:func:`~l2o_lib.enhance.kkt_certify` on the family's QP with the matrices held here (none rebuilt)."""
        tol = check_tolerances("ActiveSetLaws.kkt", tol_primal=tol_primal, tol_dual=tol_dual, tol_stat=tol_stat)
        beq = np.asarray(xi, dtype=float) @ self._E.T
        lo = np.concatenate([beq, np.broadcast_to(self.lo, (len(beq), self.n))], axis=1)
        hi = np.concatenate([beq, np.broadcast_to(self.hi, (len(beq), self.n))], axis=1)
        return kkt(self._P, self._q, self._A, lo, hi, x, y, **tol)

    def index_of(self, act: np.ndarray) -> np.ndarray:
        """Strategy index of each active-set row (−1 where it is not among the known strategies)."""
        lookup = {s.tobytes(): i for i, s in enumerate(self.strategies)}
        return np.array([lookup.get(np.asarray(a, dtype=np.int8).tobytes(), -1) for a in act], dtype=np.int64)

    def law_for(self, act: np.ndarray) -> ActiveSetLaws:
        """Laws for new active sets (e.g. those an active-set solver found), same family."""
        return ActiveSetLaws(self.family, act)
