"""Solver objects set up once and re-solved per instance, the way MPC code runs them.

:class:`OSQPSession` holds one OSQP solver for a family whose :meth:`qp` gives OSQP's form with only the
bounds l, u depending on ξ: the KKT matrix is factorized once at setup, and each instance only updates l and u
(and optionally warm-starts x, y or sets ρ). Iteration counts are honest: the termination test runs at every
iteration (``check_termination=1``; OSQP's default checks every 25, which rounds counts up to multiples of
25), adaptive ρ updates at a fixed interval (OSQP's default interval depends on measured setup time, so
counts would vary from run to run), and ρ is reset to its start value before every solve, so an instance's
count does not depend on the instances solved before it.

:class:`DAQPSession` holds the condensed form (inputs only) of a family in one DAQP workspace
(``daqp.Model``: set up and factorized once, the recommended interface for real-time use); each instance
updates the linear term and the bounds and solves, from an empty working set (a cold start) or from a predicted
active set, and returns the multipliers in OSQP's form.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2o_lib.problems.base import OPTIMAL


@dataclass(frozen=True)
class OSQPResult:
    """Per-instance results of a batch of OSQP solves."""

    x: np.ndarray
    y: np.ndarray
    iters: np.ndarray
    status: np.ndarray
    solve_time: np.ndarray
    wall_time: np.ndarray
    rho_final: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Mask of the instances OSQP reports solved to its tolerance."""
        return self.status == OPTIMAL


class OSQPSession:
    """One OSQP solver for a QP family; ``solve(xi, x0=..., y0=..., rho=...)`` solves a batch one by one.

    ``family`` needs ``qp(xi)`` returning an object with P, q, A, l, u (only l, u depending on ξ).
    """

    def __init__(self, family: Any, *, eps: float = 1e-3, rho: float = 0.1, adaptive_rho: bool = True,
                 adaptive_rho_interval: int = 25, check_termination: int = 1, max_iter: int = 20000,
                 polishing: bool = False, sigma: float = 1e-6, alpha: float = 1.6, scaling: int = 10):
        if not callable(getattr(family, "qp", None)):
            raise TypeError(f"OSQPSession needs a family with a qp() form (OSQP's P, q, A, l, u); "
                            f"{type(family).__name__} has none")
        if not (np.isfinite(eps) and eps > 0):
            raise ValueError(f"OSQPSession: eps must be a positive number, got {eps!r}")
        if not (np.isfinite(rho) and rho > 0):
            raise ValueError(f"OSQPSession: rho must be a positive number, got {rho!r}")
        import osqp

        self.family = family
        self.eps, self.rho, self.adaptive_rho = float(eps), float(rho), bool(adaptive_rho)
        data = family.qp()
        self.n, self.m = data.P.shape[0], data.A.shape[0]
        self._q = data.q
        self.settings = dict(eps_abs=self.eps, eps_rel=self.eps, rho=self.rho, adaptive_rho=self.adaptive_rho,
                             adaptive_rho_interval=int(adaptive_rho_interval), check_termination=int(check_termination),
                             max_iter=int(max_iter), polishing=bool(polishing), sigma=sigma, alpha=alpha,
                             warm_starting=True, verbose=False, scaling=int(scaling))
        self.solver = osqp.OSQP()
        t0 = time.perf_counter()
        self.solver.setup(data.P, data.q, data.A, data.l[0], data.u[0], **self.settings)
        self.setup_time = time.perf_counter() - t0
        self._rho_now = self.rho

    def _set_rho(self, rho: float) -> None:
        if rho != self._rho_now:
            self.solver.update_settings(rho=float(rho))
            self._rho_now = float(rho)

    def solve(self, xi: Any, *, x0: np.ndarray | None = None, y0: np.ndarray | None = None,
              rho: np.ndarray | float | None = None, check_domain: bool = True) -> OSQPResult:
        """Solve every row of ξ; ``x0``/``y0`` warm starts (``None``: cold start from zero), ``rho`` per row.

        ``wall_time`` covers the bound update, warm start, ρ update and solve of each instance.
        """
        data = self.family.qp(xi, check_domain=check_domain)
        n_inst = data.l.shape[0]
        zeros_x, zeros_y = np.zeros(self.n), np.zeros(self.m)
        for name, arr, width in (("x0", x0, self.n), ("y0", y0, self.m)):
            if arr is not None and (np.shape(arr) != (n_inst, width) or not np.all(np.isfinite(arr))):
                raise ValueError(f"OSQPSession.solve: {name} must be finite with shape ({n_inst}, {width}), "
                                 f"got {np.shape(arr)}")
        rhos = np.full(n_inst, self.rho) if rho is None else np.broadcast_to(np.asarray(rho, dtype=float), (n_inst,))
        if not np.all(np.isfinite(rhos) & (rhos > 0)):
            raise ValueError("OSQPSession.solve: rho must be positive and finite")
        X = np.full((n_inst, self.n), np.nan)
        Y = np.full((n_inst, self.m), np.nan)
        iters = np.zeros(n_inst, dtype=int)
        status = np.empty(n_inst, dtype=object)
        t_solve = np.zeros(n_inst)
        t_wall = np.zeros(n_inst)
        rho_final = np.zeros(n_inst)
        for i in range(n_inst):
            t0 = time.perf_counter()
            self._set_rho(rhos[i])
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
                # adaptive ρ changed it inside the solver; the next instance starts again from its own ρ
                self._rho_now = float("nan")
            if status[i] == OPTIMAL:
                X[i] = res.x
                Y[i] = res.y
        return OSQPResult(x=X, y=Y, iters=iters, status=status.astype(str), solve_time=t_solve, wall_time=t_wall,
                          rho_final=rho_final)


@dataclass(frozen=True)
class DAQPResult:
    """Per-instance results of a batch of DAQP solves (x and y in the family's OSQP form)."""

    x: np.ndarray
    y: np.ndarray
    flag: np.ndarray
    iterations: np.ndarray
    solve_time: np.ndarray
    wall_time: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Mask of the instances DAQP reports solved (exit flag 1)."""
        return self.flag == 1

    def __getitem__(self, key: str) -> np.ndarray:
        return getattr(self, key)


class DAQPSession:
    """DAQP on a family's condensed form, set up once; ``solve(xi, active=...)`` solves a batch one by one.

    ``family`` needs ``condensed()`` (H, F, Γ, Φ, bounds w with rows u ≤ u_max, −u ≤ −u_min, Γ… ≤ x_max, …),
    ``qp()`` (OSQP's form, whose bound rows are the identity on x = (inputs, states)), ``horizon``, ``nx``
    and ``nu``. The states are recovered from the dynamics, the dynamics rows' multipliers from stationarity
    (exact at an optimum: A_eq has full row rank).
    """

    def __init__(self, family: Any, *, primal_tol: float = 1e-9):
        import daqp

        for cap in ("condensed", "qp"):
            if not callable(getattr(family, cap, None)):
                raise TypeError(f"DAQPSession needs a family with {cap}(); {type(family).__name__} has none")
        self.family, self.primal_tol = family, float(primal_tol)
        c = family.condensed()
        self.nU, self.nX = family.horizon * family.nu, family.horizon * family.nx
        nU, nX = self.nU, self.nX
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
            raise RuntimeError(f"DAQPSession: DAQP's setup failed with exit flag {flag}")
        self.model.settings = {"primal_tol": self.primal_tol}

    def _bounds(self, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        px = self.Phi @ x0
        return np.concatenate([self.u_hi, self.x_hi - px]), np.concatenate([self.u_lo, self.x_lo - px])

    def equality_duals(self, x: np.ndarray, y_bounds: np.ndarray) -> np.ndarray:
        """OSQP-form y = (ν, y_bounds), ν from stationarity A_eqᵀν = −(P x + q + A_boundsᵀ y_bounds)."""
        r = np.asarray(x) @ self._P + self._q + np.asarray(y_bounds) @ self._A_bounds
        return np.concatenate([-r @ self._Aeq_pinvT.T, y_bounds], axis=1)

    def solve(self, xi: Any, *, active: np.ndarray | None = None) -> DAQPResult:
        """Solve every row of ξ; ``active`` (batch, n_vars) of −1/0/+1 starts DAQP's working set there.

        Without ``active`` every solve starts from an empty working set (the workspace would otherwise start
        from the previous instance's). ``solve_time`` is DAQP's own, as it reports it (the factorization was
        done once, at setup); ``wall_time`` each instance's update and solve, from Python.
        """
        xi = np.asarray(xi, dtype=float)
        nU, nX = self.nU, self.nX
        n = len(xi)
        x = np.full((n, nU + nX), np.nan)
        lam = np.full((n, nU + nX), np.nan)
        flag, iters = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
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
            flag[i], iters[i] = exitflag, int(info["iterations"])
            t_own[i] = float(info["solve_time"]) + float(info["setup_time"])
            if exitflag == 1:
                x[i] = np.concatenate([U, self.Phi @ x0 + self.Gamma @ U])
                lam[i] = info["lam"]
        return DAQPResult(x=x, y=self.equality_duals(x, lam), flag=flag, iterations=iters, solve_time=t_own,
                          wall_time=t_wall)


@dataclass(frozen=True)
class SessionResult:
    """Per-instance results of a batch of solves: x and y in the form's OSQP convention, iterations, status,
    the solver's own time and each instance's wall time (update and solve, from Python)."""

    x: np.ndarray
    y: np.ndarray
    iters: np.ndarray
    status: np.ndarray
    solve_time: np.ndarray
    wall_time: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Mask of the instances the solver reports solved."""
        return self.status == OPTIMAL


#: DAQP's exit flags, as statuses
_DAQP_STATUS = {1: OPTIMAL, 2: OPTIMAL, -1: "primal infeasible", -2: "cycling", -3: "unbounded",
                -4: "iteration limit", -5: "non-convex", -6: "initial working set overdetermined"}
#: DAQP reads bounds at or beyond this magnitude as infinite
_DAQP_INF = 1e30


class NullSpaceDAQPSession:
    """DAQP on any QP in OSQP's form whose first ``n_eq`` rows are equalities, set up once.

    ``form.qp(θ)`` gives P, A (the same for every θ), q (shared or one row per instance) and l, u per instance,
    the first ``n_eq`` rows with l = u. The equalities are eliminated once: x = x_p(θ) + Z w with Z a basis of
    the null space of A_eq and x_p = A_eq⁺ b(θ), leaving DAQP the dense problem in w (Zᵀ P Z must be positive
    definite) with the remaining rows as general inequalities; its matrices are factorized at setup and each
    instance updates only the linear term and the bounds. ``solve(θ)`` returns x and y in OSQP's form (the
    equality rows' multipliers from stationarity). An instance whose bounds cross (l > u on a row) is reported
    primal infeasible without a call to DAQP.
    """

    def __init__(self, form: Any, *, primal_tol: float = 1e-9):
        import daqp
        from scipy.linalg import null_space

        if not callable(getattr(form, "qp", None)):
            raise TypeError(f"NullSpaceDAQPSession needs a form with qp() (OSQP's P, q, A, l, u); "
                            f"{type(form).__name__} has none")
        self.form, self.primal_tol = form, float(primal_tol)
        data = form.qp()
        P, A = data.P.toarray(), data.A.toarray()
        self.n, self.n_eq = P.shape[0], data.n_eq
        self._P, self._A = P, A
        A_eq, self._A_in = A[:self.n_eq], A[self.n_eq:]
        self._Z = null_space(A_eq) if self.n_eq else np.eye(self.n)
        self._A_eq_pinv = np.linalg.pinv(A_eq) if self.n_eq else np.zeros((self.n, 0))
        self._A_eqT_pinv = np.linalg.pinv(A_eq.T) if self.n_eq else np.zeros((0, self.n))
        H = self._Z.T @ P @ self._Z
        self.H = np.ascontiguousarray(0.5 * (H + H.T))
        if np.linalg.eigvalsh(self.H).min() <= 0:
            raise ValueError("NullSpaceDAQPSession: the reduced Hessian Zᵀ P Z is not positive definite")
        self.G = np.ascontiguousarray(self._A_in @ self._Z)
        self.m_in = self.G.shape[0]
        self.model = daqp.Model()
        big = np.full(self.m_in, _DAQP_INF)
        t0 = time.perf_counter()
        flag, _ = self.model.setup(self.H, np.zeros(self.H.shape[0]), self.G, big, -big)
        self.setup_time = time.perf_counter() - t0
        if flag < 0:
            raise RuntimeError(f"NullSpaceDAQPSession: DAQP's setup failed with exit flag {flag}")
        self.model.settings = {"primal_tol": self.primal_tol}
        self._cold = np.zeros(self.m_in, dtype=np.int32)

    def solve(self, theta: Any, *, active: np.ndarray | None = None, check_domain: bool = True) -> SessionResult:
        """Solve every row of θ; ``active`` (batch, m − n_eq) of −1/0/+1 starts DAQP's working set there.

        ``solve_time`` is DAQP's own; ``wall_time`` each instance's update and solve, from Python.
        """
        data = self.form.qp(theta, check_domain=check_domain)
        n_inst = data.l.shape[0]
        if active is not None:
            active = np.asarray(active)
            if active.shape != (n_inst, self.m_in):
                raise ValueError(f"NullSpaceDAQPSession.solve: active must have shape {(n_inst, self.m_in)}, "
                                 f"got {active.shape}")
            sense = np.where(active > 0, 1, np.where(active < 0, 3, 0)).astype(np.int32)
        q = np.broadcast_to(np.asarray(data.q, dtype=float), (n_inst, self.n))
        x_p = data.l[:, :self.n_eq] @ self._A_eq_pinv.T
        f = (x_p @ self._P + q) @ self._Z
        shift = x_p @ self._A_in.T
        upper = np.clip(data.u[:, self.n_eq:] - shift, -_DAQP_INF, _DAQP_INF)
        lower = np.clip(data.l[:, self.n_eq:] - shift, -_DAQP_INF, _DAQP_INF)
        crossed = (lower > upper).any(axis=1)
        x = np.full((n_inst, self.n), np.nan)
        lam = np.full((n_inst, self.m_in), np.nan)
        iters = np.zeros(n_inst, dtype=int)
        status = np.full(n_inst, "primal infeasible", dtype=object)
        t_own, t_wall = np.zeros(n_inst), np.zeros(n_inst)
        for i in range(n_inst):
            if crossed[i]:
                continue
            t0 = time.perf_counter()
            self.model.update(f=f[i], bupper=upper[i], blower=lower[i],
                              sense=self._cold.copy() if active is None else sense[i].copy())
            w, _, flag, info = self.model.solve()
            t_wall[i] = time.perf_counter() - t0
            iters[i], t_own[i] = int(info["iterations"]), float(info["solve_time"]) + float(info["setup_time"])
            status[i] = _DAQP_STATUS.get(int(flag), f"exit flag {int(flag)}")
            if status[i] == OPTIMAL:
                x[i] = x_p[i] + self._Z @ w
                lam[i] = info["lam"]
        r = x @ self._P + q + lam @ self._A_in
        y = np.concatenate([-r @ self._A_eqT_pinv.T, lam], axis=1)
        return SessionResult(x=x, y=y, iters=iters, status=status.astype(str), solve_time=t_own, wall_time=t_wall)
