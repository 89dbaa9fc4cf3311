"""Solver sessions: set up once, then re-solved per instance, the way MPC code runs a QP solver.

Every session speaks one vocabulary, modelled on osqp-python's solver object (set up once; per instance update
the data that depends on ξ, warm-start, solve): ``solve(xi, ...)`` solves a batch one instance at a time and
returns a :class:`SolveResult` (x, y, iterations, status, the solver's own time and the wall time per
instance; ``ok`` where the status is :data:`~l2o_lib.problems.solution.OPTIMAL`).

:class:`OSQPSession` holds one OSQP solver for a family with OSQP's form (:class:`~l2o_lib.problems.OSQPForm`:
P and A shared, the bounds l, u and optionally the linear term q per instance): the KKT matrix is factorized
once at setup, and each instance only updates its vectors (and optionally warm-starts x, y or sets ρ).
Iteration counts are honest: the termination test runs at every iteration (``check_termination=1``; OSQP's
default checks every 25, which rounds counts up to multiples of 25), adaptive ρ updates at a fixed interval
(OSQP's default interval depends on measured setup time, so counts would vary from run to run), and ρ is reset
to its start value before every solve, so an instance's count does not depend on the instances solved before it.

:class:`DAQPSession` holds the condensed form (inputs only) of a linear MPC problem
(:class:`~l2o_lib.problems.LinearMPCForm`) in one DAQP workspace (``daqp.Model``: set up and factorized once,
the recommended interface for real-time use); each instance updates the linear term and the bounds and
solves, from an empty working set (a cold start) or from a predicted active set, and returns the multipliers
in OSQP's form.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2o_lib.problems.capabilities import LinearMPCForm, OSQPForm, require
from l2o_lib.problems.solution import OPTIMAL

#: the iteration cap of every OSQP session in the book (fixed-ρ and adaptive-ρ runs alike)
MAX_ITER = 20000


@dataclass(frozen=True)
class SolveResult:
    """Per-instance results of a session's batch of solves.

    ``x`` (batch, n) and ``y`` (batch, m) in OSQP's form (NaN where the solver reported no solution), ``iters``
    the solver's iteration counts, ``status`` :data:`OPTIMAL` or the solver's own word, ``solve_time`` the
    solver's own seconds, ``wall_time`` each instance's seconds from Python (updates, warm start and solve),
    ``rho`` OSQP's final ρ (None for other solvers).
    """

    x: np.ndarray
    y: np.ndarray
    iters: np.ndarray
    status: np.ndarray
    solve_time: np.ndarray
    wall_time: np.ndarray
    rho: np.ndarray | None = None

    @property
    def ok(self) -> np.ndarray:
        """Mask of the instances the solver reports solved to its tolerance."""
        return self.status == OPTIMAL

    def __len__(self) -> int:
        return len(self.status)


def _positive(owner: str, name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not (np.isfinite(v) and v > 0):
        raise ValueError(f"{owner}: {name} must be a positive finite number, got {value!r}")
    return v


def _count(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _start(owner: str, name: str, arr: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """A warm start ``arr`` checked for shape and finiteness (None stays None)."""
    if arr is None:
        return None
    a = np.asarray(arr, dtype=float)
    if a.shape != shape or not np.all(np.isfinite(a)):
        raise ValueError(f"{owner}: {name} must be finite with shape {shape}, got shape {np.shape(arr)}"
                         + ("" if a.shape != shape else " with NaN or inf entries"))
    return a


class OSQPSession:
    """One OSQP solver for a family with OSQP's form; ``solve(xi, x0=..., y0=..., rho=...)`` solves a batch.

    ``family.qp(ξ)`` gives P and A (shared by every instance), the bounds l, u ``(batch, m)`` and q, either
    shared ``(n,)`` or per instance ``(batch, n)``. ``reset_rho=True`` (the default) starts every instance from
    the session's ρ, so iteration counts do not depend on the instances solved before; ``reset_rho=False`` keeps
    the ρ adaptive ρ reached on the previous instance, as a controller does from one sampling instant to the next
    (a ρ change refactorizes the KKT matrix).
    """

    def __init__(self, family: OSQPForm, *, eps: float = 1e-3, rho: float = 0.1, adaptive_rho: bool = True,
                 adaptive_rho_interval: int = 25, check_termination: int = 1, max_iter: int = MAX_ITER,
                 polishing: bool = False, sigma: float = 1e-6, alpha: float = 1.6, scaling: int = 10,
                 reset_rho: bool = True):
        require(family, OSQPForm, "OSQPSession")
        owner = "OSQPSession"
        self.eps, self.rho = _positive(owner, "eps", eps), _positive(owner, "rho", rho)
        sigma = _positive(owner, "sigma", sigma)
        if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha < 2):
            raise ValueError(f"{owner}: alpha must be a number in (0, 2), got {alpha!r}")
        if isinstance(scaling, bool) or not isinstance(scaling, (int, np.integer)) or scaling < 0:
            raise ValueError(f"{owner}: scaling must be a non-negative integer, got {scaling!r}")
        import osqp

        self.family, self.adaptive_rho, self.reset_rho = family, bool(adaptive_rho), bool(reset_rho)
        data = family.qp()
        self.n, self.m = data.P.shape[0], data.A.shape[0]
        self._q = np.asarray(data.q, dtype=float).reshape(-1, self.n)[0]
        self.settings = dict(eps_abs=self.eps, eps_rel=self.eps, rho=self.rho, adaptive_rho=self.adaptive_rho,
                             adaptive_rho_interval=_count(owner, "adaptive_rho_interval", adaptive_rho_interval),
                             check_termination=_count(owner, "check_termination", check_termination),
                             max_iter=_count(owner, "max_iter", max_iter), polishing=bool(polishing), sigma=sigma,
                             alpha=float(alpha), warm_starting=True, verbose=False, scaling=int(scaling))
        self.solver = osqp.OSQP()
        t0 = time.perf_counter()
        try:
            self.solver.setup(data.P, self._q, data.A, data.l[0], data.u[0], **self.settings)
        except Exception as exc:  # osqp raises OSQPException(code) with no words: name what was set up
            raise ValueError(f"OSQPSession: OSQP's setup failed ({type(exc).__name__} {exc}) for "
                             f"{getattr(family, 'name', family)} with settings {self.settings}") from None
        self.setup_time = time.perf_counter() - t0
        self._rho_now = self.rho
        self._zeros_x, self._zeros_y = np.zeros(self.n), np.zeros(self.m)

    def _set_rho(self, rho: float) -> None:
        if rho != self._rho_now:
            self.solver.update_settings(rho=float(rho))
            self._rho_now = float(rho)

    def solve(self, xi: Any, *, x0: np.ndarray | None = None, y0: np.ndarray | None = None,
              rho: np.ndarray | float | None = None, check_domain: bool = True) -> SolveResult:
        """Solve every row of ξ; ``x0``/``y0`` warm starts (``None``: cold start from zero), ``rho`` per row.

        ``wall_time`` covers the vector updates, warm start, ρ update and solve of each instance.
        """
        data = self.family.qp(xi, check_domain=check_domain)
        n_inst = data.l.shape[0]
        x0 = _start("OSQPSession.solve", "x0", x0, (n_inst, self.n))
        y0 = _start("OSQPSession.solve", "y0", y0, (n_inst, self.m))
        q = np.asarray(data.q, dtype=float)
        per_q = q.ndim == 2
        if per_q and q.shape != (n_inst, self.n):
            raise ValueError(f"OSQPSession.solve: the family's q has shape {q.shape}, expected ({n_inst}, {self.n})")
        rhos = np.full(n_inst, self.rho) if rho is None else np.broadcast_to(np.asarray(rho, dtype=float), (n_inst,))
        if not np.all(np.isfinite(rhos) & (rhos > 0)):
            raise ValueError("OSQPSession.solve: rho must be positive and finite")
        X = np.full((n_inst, self.n), np.nan)
        Y = np.full((n_inst, self.m), np.nan)
        iters = np.zeros(n_inst, dtype=int)
        status = np.empty(n_inst, dtype=object)
        t_solve, t_wall, rho_final = np.zeros(n_inst), np.zeros(n_inst), np.zeros(n_inst)
        zeros_x, zeros_y = np.zeros(self.n), np.zeros(self.m)
        for i in range(n_inst):
            t0 = time.perf_counter()
            if self.reset_rho or rho is not None:
                self._set_rho(rhos[i])
            if per_q:
                self.solver.update(q=q[i], l=data.l[i], u=data.u[i])
            else:
                self.solver.update(l=data.l[i], u=data.u[i])
            self.solver.warm_start(x=zeros_x if x0 is None else x0[i], y=zeros_y if y0 is None else y0[i])
            res = self.solver.solve(raise_error=False)
            t_wall[i] = time.perf_counter() - t0
            info = res.info
            st = str(info.status)
            status[i] = OPTIMAL if st == "solved" else st
            iters[i] = int(info.iter)
            t_solve[i] = float(info.solve_time)
            rho_final[i] = float(info.rho_estimate)
            if int(info.rho_updates) > 0:
                # adaptive ρ changed it inside the solver: what the next instance starts from
                self._rho_now = float(info.rho_estimate) if not self.reset_rho else float("nan")
            if status[i] == OPTIMAL:
                X[i] = res.x
                Y[i] = res.y
        return SolveResult(x=X, y=Y, iters=iters, status=status.astype(str), solve_time=t_solve, wall_time=t_wall,
                           rho=rho_final)

    def solve_vectors(self, l: np.ndarray, u: np.ndarray, x0: np.ndarray | None = None, y0: np.ndarray | None = None,
                      q: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray | None, int, str, float]:
        """One instance from its vectors, the lean path of a controller that already holds them: update l, u
        (and q), warm-start from ``x0``, ``y0`` (zeros when None), solve. Returns (x, y, iterations, status,
        OSQP's own seconds), x and y None unless solved. The caller guarantees the shapes (n,), (m,) and
        finite values; :meth:`solve` is the checked path. ρ is not reset (``reset_rho`` does not apply)."""
        if q is None:
            self.solver.update(l=l, u=u)
        else:
            self.solver.update(q=q, l=l, u=u)
        self.solver.warm_start(x=self._zeros_x if x0 is None else x0, y=self._zeros_y if y0 is None else y0)
        res = self.solver.solve(raise_error=False)
        info = res.info
        if int(info.rho_updates) > 0:
            self._rho_now = float("nan")  # unknown here; solve() sets it again when it must
        st = str(info.status)
        if st == "solved":
            return res.x, res.y, int(info.iter), OPTIMAL, float(info.solve_time)
        return None, None, int(info.iter), st, float(info.solve_time)


def tune_rho(family: OSQPForm, xi: np.ndarray, *, rhos: Any = None, eps: float = 1e-3, **settings: Any
             ) -> tuple[float, dict[float, tuple[float, float, float]]]:
    """The starting ρ (adaptive ρ on) with the fewest mean OSQP iterations on the instances ``xi``.

    Returns the best ρ and, per candidate, (median, mean, solved share): the tuning a practitioner does once,
    offline, on training instances. Candidates default to ``10^k`` for k = −2 … 2 in steps of 0.5.
    """
    rhos = np.logspace(-2, 2, 9) if rhos is None else np.asarray(rhos, dtype=float)
    stats = {}
    for r in rhos:
        res = OSQPSession(family, eps=eps, rho=float(r), **settings).solve(xi, check_domain=False)
        it = np.where(res.ok, res.iters, MAX_ITER)
        stats[float(r)] = (float(np.median(it)), float(np.mean(it)), float(res.ok.mean()))
    best = min(stats, key=lambda r: (-stats[r][2], stats[r][1]))
    return best, stats


#: the largest condition number of the condensed Hessian DAQPSession accepts: beyond it (the powers Aᴺ of an
#: unstable system in Γ and Φ) DAQP reports success with answers far from the optimum
DAQP_MAX_CONDITION = 1e11

#: DAQP's exit flags (daqp's ``EXIT_*`` constants) as statuses; 1 is an optimal solution
DAQP_STATUS = {1: OPTIMAL, 2: "soft optimal", -1: "infeasible", -2: "cycling", -3: "unbounded",
               -4: "iteration limit", -5: "nonconvex", -6: "overdetermined initial working set"}


class DAQPSession:
    """DAQP on a linear MPC problem's condensed form, set up once; ``solve(xi, active=...)`` solves a batch.

    The states are recovered from the dynamics, the dynamics rows' multipliers from stationarity (exact at an
    optimum: A_eq has full row rank), so x and y are in the family's OSQP form.
    """

    def __init__(self, family: LinearMPCForm, *, primal_tol: float = 1e-9):
        require(family, LinearMPCForm, "DAQPSession")
        self.primal_tol = _positive("DAQPSession", "primal_tol", primal_tol)
        import daqp

        self.family = family
        c = family.condensed()
        self.condition = float(np.linalg.cond(c.H))
        if not self.condition <= DAQP_MAX_CONDITION:
            raise ValueError(f"DAQPSession: the condensed QP of {getattr(family, 'name', family)} (horizon "
                             f"{family.horizon}) has condition number {self.condition:.1e} > {DAQP_MAX_CONDITION:.0e}: "
                             "the states' dependence on the inputs (powers of A) makes an active-set solve on it "
                             "inaccurate; use a shorter horizon or OSQPSession on the sparse form")
        self.nU, self.nX = family.horizon * family.nu, family.horizon * family.nx
        nU, nX = self.nU, self.nX
        self.nx = family.nx
        self.H, self.F = np.ascontiguousarray(c.H), c.F
        self.Gamma, self.Phi = np.ascontiguousarray(c.Gamma), c.Phi
        self.u_hi, self.u_lo = c.w[:nU], -c.w[nU:2 * nU]
        self.x_hi, self.x_lo = c.w[2 * nU:2 * nU + nX], -c.w[2 * nU + nX:]
        qp = family.qp()
        A = qp.A.toarray()
        self.n_eq = qp.n_eq
        self._P, self._q, self._A_bounds = qp.P.toarray(), qp.q, A[qp.n_eq:]
        self._Aeq_pinvT = np.linalg.pinv(A[:qp.n_eq].T)
        self._cold = np.zeros(nU + nX, dtype=np.int32)
        self.model = daqp.Model()
        t0 = time.perf_counter()
        flag, _ = self.model.setup(self.H, np.zeros(nU), self.Gamma, *self._bounds(np.zeros(family.nx)))
        self.setup_time = time.perf_counter() - t0
        if flag < 0:
            raise RuntimeError(f"DAQPSession: DAQP's setup failed ({DAQP_STATUS.get(flag, f'exit flag {flag}')})")
        self.model.settings = {"primal_tol": self.primal_tol}

    def _bounds(self, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        px = self.Phi @ x0
        return np.concatenate([self.u_hi, self.x_hi - px]), np.concatenate([self.u_lo, self.x_lo - px])

    def equality_duals(self, x: np.ndarray, y_bounds: np.ndarray) -> np.ndarray:
        """OSQP-form y = (ν, y_bounds), ν from stationarity A_eqᵀν = −(P x + q + A_boundsᵀ y_bounds)."""
        r = np.asarray(x) @ self._P + self._q + np.asarray(y_bounds) @ self._A_bounds
        return np.concatenate([-r @ self._Aeq_pinvT.T, y_bounds], axis=1)

    def _check_xi(self, xi: Any) -> np.ndarray:
        try:
            xi = np.asarray(xi, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"DAQPSession.solve: xi must be a numeric array (batch, {self.nx}), "
                            f"got {type(xi).__name__}") from None
        if xi.ndim != 2 or xi.shape[1] != self.nx:
            raise ValueError(f"DAQPSession.solve: xi must have shape (batch, {self.nx}), got {xi.shape}")
        if not np.all(np.isfinite(xi)):
            raise ValueError(f"DAQPSession.solve: xi has NaN or inf in rows {np.flatnonzero(~np.isfinite(xi).all(1))[:5]}")
        return xi

    def solve(self, xi: Any, *, active: np.ndarray | None = None) -> SolveResult:
        """Solve every row of ξ; ``active`` (batch, n_vars) of −1/0/+1 starts DAQP's working set there.

        Without ``active`` every solve starts from an empty working set (the workspace would otherwise start
        from the previous instance's). ``solve_time`` is DAQP's own, as it reports it (the factorization was
        done once, at setup); ``wall_time`` each instance's update and solve, from Python.
        """
        xi = self._check_xi(xi)
        nU, nX = self.nU, self.nX
        n = len(xi)
        x = np.full((n, nU + nX), np.nan)
        lam = np.full((n, nU + nX), np.nan)
        status = np.empty(n, dtype=object)
        iters = np.zeros(n, dtype=int)
        t_own, t_wall = np.zeros(n), np.zeros(n)
        sense = None
        if active is not None:
            active = np.asarray(active)
            if active.shape != (n, nU + nX):
                raise ValueError(f"DAQPSession.solve: active must have shape {(n, nU + nX)}, got {active.shape}")
            # DAQP's constraint flags: 1 = in the working set, + 2 = at its lower bound
            sense = np.where(active > 0, 1, np.where(active < 0, 3, 0)).astype(np.int32)
        for i, x0 in enumerate(xi):
            t0 = time.perf_counter()
            bu, bl = self._bounds(x0)
            self.model.update(f=self.F @ x0, bupper=bu, blower=bl,
                              sense=self._cold.copy() if sense is None else sense[i].copy())
            U, _, exitflag, info = self.model.solve()
            t_wall[i] = time.perf_counter() - t0
            status[i] = DAQP_STATUS.get(int(exitflag), f"exit flag {exitflag}")
            iters[i] = int(info["iterations"])
            t_own[i] = float(info["solve_time"]) + float(info["setup_time"])
            if exitflag == 1:
                x[i] = np.concatenate([U, self.Phi @ x0 + self.Gamma @ U])
                lam[i] = info["lam"]
        return SolveResult(x=x, y=self.equality_duals(x, lam), iters=iters, status=status.astype(str),
                           solve_time=t_own, wall_time=t_wall)
