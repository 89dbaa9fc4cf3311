"""Exact MPC controllers: OSQP (warm-started from the shifted plan), DAQP (warm working set), Clarabel.

Each solves the family's MPC QP once per system and sampling instant through a solver session set up once.
Where the solver reports no solution the step is flagged and the shifted previous plan's first input is applied.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from l2o_lib.control.simulate import check_states
from l2o_lib.enhance.kkt import active_sets
from l2o_lib.problems.capabilities import LinearMPCForm, require
from l2o_lib.solvers import DAQPSession, OSQPSession


def shift_plan(z: np.ndarray, family: LinearMPCForm) -> np.ndarray:
    """Plans (batch, n_vars) moved one step ahead: (u₁ … u_{N−1}, u_{N−1}, x₂ … x_N, A x_N + B u_{N−1})."""
    N, nu, nx = family.horizon, family.nu, family.nx
    z = np.atleast_2d(z)
    u, xs = z[:, :N * nu].reshape(-1, N, nu), z[:, N * nu:].reshape(-1, N, nx)
    u_next = np.concatenate([u[:, 1:], u[:, -1:]], axis=1)
    x_last = family.next_state(xs[:, -1], u[:, -1])
    x_next = np.concatenate([xs[:, 1:], x_last[:, None, :]], axis=1)
    return np.concatenate([u_next.reshape(len(z), -1), x_next.reshape(len(z), -1)], axis=1)


def shift_duals(y: np.ndarray, family: LinearMPCForm) -> np.ndarray:
    """OSQP duals (batch, m) of the previous solves moved one step ahead, block by block (the last step repeated);
    rows after the dynamics and the boxes (a terminal set's) are kept as they are."""
    N, nu, nx = family.horizon, family.nu, family.nx
    y = np.atleast_2d(y)
    blocks, start = [], 0
    for width in (nx, nu, nx):  # dynamics rows, input bounds, state bounds
        b = y[:, start:start + N * width].reshape(-1, N, width)
        blocks.append(np.concatenate([b[:, 1:], b[:, -1:]], axis=1).reshape(len(y), -1))
        start += N * width
    return np.concatenate([*blocks, y[:, start:]], axis=1)


class TerminalSetQP:
    """A linear MPC problem's OSQP form with the terminal constraint H x_N ≤ h appended (an :class:`OSQPForm`).

    With a control invariant terminal set the MPC problem stays feasible along the closed loop (recursive
    feasibility): the shifted plan, extended by an input that keeps x_N in the set, is feasible at the next step.
    """

    def __init__(self, family: LinearMPCForm, H: np.ndarray, h: np.ndarray):
        import scipy.sparse as sp

        require(family, LinearMPCForm, "TerminalSetQP")
        H, h = np.asarray(H, dtype=float), np.asarray(h, dtype=float).ravel()
        if H.ndim != 2 or H.shape[1] != family.nx or h.shape != (H.shape[0],) or not (
                np.isfinite(H).all() and np.isfinite(h).all()):
            raise ValueError(f"TerminalSetQP: need H (rows, {family.nx}) and h (rows,), finite, got {H.shape}, {h.shape}")
        self.family, self.H, self.h = family, H, h
        rows = np.zeros((len(h), family.n_vars))
        rows[:, -family.nx:] = H  # x_N is the last block of the decision vector
        base = family.qp()
        self._A = sp.vstack([base.A, sp.csc_matrix(rows)]).tocsc()

    def qp(self, xi: Any | None = None, *, check_domain: bool = True) -> Any:
        from dataclasses import replace

        base = self.family.qp(xi, check_domain=check_domain)
        n = base.l.shape[0]
        return replace(base, A=self._A, l=np.hstack([base.l, np.full((n, len(self.h)), -np.inf)]),
                       u=np.hstack([base.u, np.tile(self.h, (n, 1))]))


class _PlanMemory:
    """The previous plan of each system, shifted once per step; its first input is the fallback input."""

    def __init__(self, family: LinearMPCForm):
        require(family, LinearMPCForm, type(self).__name__)
        self.family = family

    def reset(self, x0: np.ndarray) -> None:
        x0 = check_states(x0, self.family, f"{self.name}.reset")
        self.plans = np.zeros((len(x0), self.family.n_vars))
        self.have = np.zeros(len(x0), dtype=bool)
        self.iterations: list[np.ndarray] = []

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = check_states(x, self.family, f"{self.name}.step")
        if len(x) != len(self.plans):
            raise ValueError(f"{self.name}.step: reset with {len(self.plans)} systems, stepped with {len(x)}")
        return x

    def _apply(self, ok: np.ndarray, x_sol: np.ndarray, shifted: np.ndarray) -> np.ndarray:
        fam = self.family
        fallback = np.clip(fam.first_input(shifted), fam.u_min, fam.u_max)
        u = np.where(ok[:, None], np.nan_to_num(fam.first_input(x_sol)), fallback)
        self.plans = np.where(ok[:, None], x_sol, shifted)
        self.have |= ok
        return u


class OSQPController(_PlanMemory):
    """Exact MPC by OSQP as MPC code runs it: per system one solver, set up and factorized once; per step only
    the bounds updated, a warm start from the system's previous solution shifted by one step (primal and duals,
    with ``warm=True``; otherwise from zero), and the ρ that adaptive ρ reached at the previous step kept.

    ``rho`` is the starting ρ (tune it on training states, :func:`~l2o_lib.solvers.tune_rho`); ``terminal_set =
    (H, h)`` adds the terminal constraint H x_N ≤ h (:class:`TerminalSetQP`). The time per step is the solver
    call of each system (update, warm start, solve), as a bare ``osqp`` loop measures it.
    """

    def __init__(self, family: LinearMPCForm, *, warm: bool = True, eps: float = 1e-5, rho: float = 0.1,
                 name: str | None = None, terminal_set: tuple[np.ndarray, np.ndarray] | None = None, **settings: Any):
        super().__init__(family)
        self.warm = warm
        self.form = family if terminal_set is None else TerminalSetQP(family, *terminal_set)
        self.name = name or (f"exact MPC (OSQP, {'warm' if warm else 'cold'} start"
                             + (", terminal set)" if terminal_set is not None else ")"))
        self.settings = {"eps": eps, "rho": rho, "polishing": True, **settings, "reset_rho": False}
        self.session = OSQPSession(self.form, **self.settings)
        self.m = self.session.m

    def reset(self, x0: np.ndarray) -> None:
        super().reset(x0)
        self.duals = np.zeros((len(x0), self.m))
        # one solver per system (set up here, not timed), as each system's controller would hold its own
        self.sessions = [self.session] + [OSQPSession(self.form, **self.settings) for _ in range(len(x0) - 1)]

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._check(x)
        warm = self.warm and self.have.any()
        shifted = shift_plan(self.plans, self.family)
        y0 = shift_duals(self.duals, self.family) if warm else None
        data = self.form.qp(x, check_domain=False)
        n = len(x)
        sol = np.full_like(shifted, np.nan)
        ok, iters, dt = np.zeros(n, dtype=bool), np.zeros(n, dtype=int), np.zeros(n)
        for i, s in enumerate(self.sessions):
            t0 = time.perf_counter()
            xs, ys, iters[i], status, _ = s.solve_vectors(data.l[i], data.u[i], shifted[i] if warm else None,
                                                          y0[i] if warm else None)
            dt[i] = time.perf_counter() - t0
            if xs is not None:
                ok[i] = True
                sol[i], self.duals[i] = xs, ys
        self.iterations.append(iters)
        return self._apply(ok, sol, shifted), dt, ~ok


class DAQPController(_PlanMemory):
    """Exact MPC by DAQP (:class:`~l2o_lib.solvers.DAQPSession`, an active-set solver on the condensed QP).

    With ``warm=True`` each solve starts from the active set of the system's previous plan shifted by one step.
    """

    def __init__(self, family: LinearMPCForm, *, warm: bool = True, name: str | None = None):
        super().__init__(family)
        self.warm = warm
        self.name = name or f"exact MPC (DAQP, {'warm' if warm else 'cold'} start)"
        self.session = DAQPSession(family)
        qp = family.qp()
        self._bounds = (qp.l[0, qp.n_eq:], qp.u[0, qp.n_eq:])

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._check(x)
        t0 = time.perf_counter()
        shifted = shift_plan(self.plans, self.family)
        active = None
        if self.warm and self.have.any():
            active = active_sets(self.family, shifted, bounds=self._bounds)
            active[~self.have] = 0
        t_prep = (time.perf_counter() - t0) / len(x) if self.warm else 0.0  # the warm start's preparation
        res = self.session.solve(x, active=active)
        self.iterations.append(res.iters)
        return self._apply(res.ok, res.x, shifted), res.wall_time + t_prep, ~res.ok


class ClarabelController(_PlanMemory):
    """Exact MPC by Clarabel (interior point, no warm start), one solve per system and step; the input applied is
    clipped to its box (Clarabel's answer meets it to its tolerance). ``terminal_set = (H, h)`` adds the terminal
    constraint H x_N ≤ h (:class:`TerminalSetQP`)."""

    def __init__(self, family: LinearMPCForm, *, tol: float = 1e-8, name: str | None = None,
                 terminal_set: tuple[np.ndarray, np.ndarray] | None = None):
        super().__init__(family)
        import clarabel
        import scipy.sparse as sp

        self.form = family if terminal_set is None else TerminalSetQP(family, *terminal_set)
        self.name = name or ("exact MPC (Clarabel)" if terminal_set is None else "exact MPC (Clarabel, terminal set)")
        data = self.form.qp(None)
        m_eq = data.n_eq
        ineq = data.A[m_eq:]
        # l ≤ A x ≤ u as Clarabel's cones: equalities, then A x ≤ u where u is finite, −A x ≤ −l where l is
        self._up, self._lo = np.isfinite(data.u[0, m_eq:]), np.isfinite(data.l[0, m_eq:])
        self.P = sp.triu(data.P).tocsc()
        self.q = data.q
        self.Acl = sp.vstack([data.A[:m_eq], ineq[self._up], -ineq[self._lo]]).tocsc()
        self.cones = [clarabel.ZeroConeT(m_eq), clarabel.NonnegativeConeT(int(self._up.sum() + self._lo.sum()))]
        s = clarabel.DefaultSettings()
        s.verbose = False
        s.tol_gap_abs = s.tol_gap_rel = s.tol_feas = tol
        self.settings, self.m_eq = s, m_eq

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import clarabel

        x = self._check(x)
        data = self.form.qp(x, check_domain=False)
        m = self.m_eq
        shifted = shift_plan(self.plans, self.family)
        sol_x = np.full_like(shifted, np.nan)
        dt, ok = np.zeros(len(x)), np.zeros(len(x), dtype=bool)
        for i in range(len(x)):
            t0 = time.perf_counter()
            b = np.concatenate([data.l[i, :m], data.u[i, m:][self._up], -data.l[i, m:][self._lo]])
            sol = clarabel.DefaultSolver(self.P, self.q, self.Acl, b, self.cones, self.settings).solve()
            ok[i] = str(sol.status).endswith("Solved") and "Almost" not in str(sol.status)
            if ok[i]:
                sol_x[i] = np.asarray(sol.x)
            dt[i] = time.perf_counter() - t0
        u = np.clip(self._apply(ok, sol_x, shifted), self.family.u_min, self.family.u_max)
        return u, dt, ~ok
