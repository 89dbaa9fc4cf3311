"""Mixed-integer MPC around obstacles (chapter 11): a planar double integrator steering to a goal.

    minimize   Σ_{k=1..N} q_p ‖p_k − g‖² + q_v ‖v_k‖² + Σ_{k=0..N−1} r ‖u_k‖²
    subject to x_{k+1} = A x_k + B u_k,  x_0 = (p_0, v_0),   |u_{k,i}| ≤ u_max,  |v_{k,i}| ≤ v_max,  p_k in the arena,
               p_k outside every obstacle o (k = 1 … N)

The state is x_k = (p_k, v_k) ∈ ℝ⁴ (position and velocity in the plane), the input u_k ∈ ℝ² an acceleration,
discretized exactly with step ``dt``. Each obstacle is an axis-aligned rectangle [lo_o, hi_o] of fixed size whose
center moves with ξ. "Outside" is a disjunction: p_k is left of it, right of it, below it *or* above it.

**Mixed-integer form (big-M).** One binary δ_{k,o,j} per time step, obstacle and side j ∈ (left, right, below,
above); δ = 0 enforces the side, δ = 1 relaxes it by a constant M:

    p_{k,x} ≤ lo_{o,x} + M δ_{k,o,0},   p_{k,x} ≥ hi_{o,x} − M δ_{k,o,1},   (the same in y with δ_{k,o,2}, δ_{k,o,3}),
    Σ_j δ_{k,o,j} ≤ 3   (at least one side enforced).

M is the tightest constant the arena allows for each row. The reference solver is SCIP (through PySCIPOpt, its
own presolve, cuts and heuristics on), solved to the relative gap :attr:`mip_gap`; the quadratic objective enters
as one epigraph variable per squared term, since SCIP's objective is linear.

**Strategies.** The integer assignment read off a solution, :meth:`sides`, enforces every side its positions
satisfy: the problem with those sides enforced (a convex QP, :class:`FixedSidesQP`) has the same optimum. With the
sides fixed, each obstacle constraint is a bound on one coordinate of p_k, so the fixed problem is MPC's QP with
ξ-dependent bounds: its matrices P and A are the same for every strategy and instance. Most of those sides are
slack at the optimum; the *strategy* (:meth:`strategy`, MLOPT's tight constraints) keeps only the sides the
solution rests on, and a candidate strategy's QP answer counts as feasible when it clears every obstacle
(:meth:`FixedSidesQP.feasible`).

**Parameters.** ξ = (p_0, v_0, g, c_1, …, c_n): the measured state, the goal position and the obstacles'
centers, as in CoCo's free-flyer. Ξ is a box (any position in the arena, any admissible velocity, the goal in a
band right of the obstacles, the centers in a band in the middle, listed from left to right, :meth:`canonical`)
less the starts inside an obstacle, which the sampler rejects: every state a closed loop can visit is in Ξ. An
instance can still be infeasible (too fast towards an obstacle or a wall to stop); SCIP proves it and reports the
status. The decision vector is x = (u_0, …, u_{N−1}, x_1, …, x_N), inputs first, as in :mod:`mpc`; the metric's
inequalities are the boxes and, per step and obstacle, the penetration depth −max_j(side slack) ≤ 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2o_lib.problems.base import OPTIMAL, ProblemFamily
from l2o_lib.problems.capabilities import LinearDynamics
from l2o_lib.problems.mpc import QPData

#: the four sides of an obstacle, in the order of the binaries δ_{k,o,j}
SIDES = ("left", "right", "below", "above")
#: SCIP statuses that count as solved: proven optimal, or stopped at the stated relative gap
_SOLVED = ("optimal", "gaplimit")


class ObstacleMPC(ProblemFamily, LinearDynamics):
    """MPC of a planar double integrator around ``n_obstacles`` rectangles; ξ = (p₀, v₀, goal, centers)."""

    key = "obstacle_mpc"
    reference_solver = "SCIP"

    def __init__(self, horizon: int = 10, n_obstacles: int = 3, dt: float = 1.0, u_max: float = 0.5,
                 v_max: float = 1.0, obstacle_width: float = 2.0, obstacle_height: float = 2.0,
                 arena: tuple[float, float] = (0.0, 10.0), goal_x: tuple[float, float] = (8.5, 9.5),
                 goal_y: tuple[float, float] = (0.5, 9.5), obstacle_x: tuple[float, float] = (3.0, 7.0),
                 obstacle_y: tuple[float, float] = (1.5, 8.5), q_position: float = 1.0, q_velocity: float = 0.1,
                 r: float = 0.1, mip_gap: float = 1e-4, time_limit: float = 120.0):
        where = "obstacle_mpc"
        for label, v in (("horizon", horizon), ("n_obstacles", n_obstacles)):
            if not 1 <= v <= 100:
                raise ValueError(f"{where}: {label} must be in [1, 100], got {v!r}")
        for label, v in (("dt", dt), ("u_max", u_max), ("v_max", v_max), ("obstacle_width", obstacle_width),
                         ("obstacle_height", obstacle_height), ("q_position", q_position),
                         ("q_velocity", q_velocity), ("r", r), ("mip_gap", mip_gap), ("time_limit", time_limit)):
            if v <= 0:
                raise ValueError(f"{where}: {label} must be positive, got {v!r}")
        half = np.array([obstacle_width, obstacle_height]) / 2
        for label, rng_ in (("goal_x", goal_x), ("goal_y", goal_y)):
            if rng_[0] < arena[0] or rng_[1] > arena[1]:
                raise ValueError(f"{where}: {label} {rng_} must lie inside the arena {arena}")
        if goal_x[0] <= obstacle_x[1] + half[0]:
            raise ValueError(f"{where}: the goal region (x ≥ {goal_x[0]}) must lie right of every obstacle (centers "
                             f"x ≤ {obstacle_x[1]}, width {obstacle_width})")
        for label, rng_, h in (("obstacle_x", obstacle_x, half[0]), ("obstacle_y", obstacle_y, half[1])):
            if rng_[0] - h < arena[0] or rng_[1] + h > arena[1]:
                raise ValueError(f"{where}: obstacles ({label} {rng_}, half size {h:g}) must lie inside the arena "
                                 f"{arena}")

        self.horizon = N = int(horizon)
        self.n_obstacles = n_obs = int(n_obstacles)
        self.dt, self.u_max, self.v_max = float(dt), float(u_max), float(v_max)
        self.half = half
        self.arena = (float(arena[0]), float(arena[1]))
        self.mip_gap, self.time_limit = float(mip_gap), float(time_limit)
        self.weights = {"position": float(q_position), "velocity": float(q_velocity), "input": float(r)}
        self.nx, self.nu = 4, 2
        self.A = np.eye(4)
        self.A[0, 2] = self.A[1, 3] = dt
        self.B = np.array([[dt ** 2 / 2, 0.0], [0.0, dt ** 2 / 2], [dt, 0.0], [0.0, dt]])

        default = (N, n_obs) == (10, 3)
        self.name = "obstacle_mpc" if default else f"obstacle_mpc_N{N}_O{n_obs}"
        self.n_params = 6 + 2 * n_obs
        self.n_vars = N * (self.nu + self.nx)
        self.n_eq = N * self.nx
        self.n_ineq = 2 * self.n_vars + N * n_obs
        self.n_sides = N * n_obs * len(SIDES)
        self.param_names = ("p0_x", "p0_y", "v0_x", "v0_y", "goal_x", "goal_y") + tuple(
            f"obstacle{o}_{c}" for o in range(n_obs) for c in ("x", "y"))
        self.var_names = tuple(f"u{k}_{c}" for k in range(N) for c in ("x", "y")) + tuple(
            f"x{k + 1}_{c}" for k in range(N) for c in ("px", "py", "vx", "vy"))
        a, v = self.arena, self.v_max
        self.param_low = np.array([a[0], a[0], -v, -v, goal_x[0], goal_y[0]] + [obstacle_x[0], obstacle_y[0]] * n_obs)
        self.param_high = np.array([a[1], a[1], v, v, goal_x[1], goal_y[1]] + [obstacle_x[1], obstacle_y[1]] * n_obs)
        self._build()

    # ------------------------------------------------------------------ structure
    def _build(self) -> None:
        N, nx, nu = self.horizon, self.nx, self.nu
        nU = N * nu
        self.n_inputs = nU
        self.A_eq = self.dynamics_rows(N)
        self.E_eq = np.zeros((N * nx, self.n_params))
        self.E_eq[:nx, :nx] = self.A  # x_1 − B u_0 = A x_0
        w = self.weights
        self.w = np.concatenate([np.full(nU, w["input"]),
                                 np.tile([w["position"], w["position"], w["velocity"], w["velocity"]], N)])
        # the tracking reference as a linear map of ξ: (0 for the inputs, (g, 0, 0) at every step)
        self.R_ref = np.zeros((self.n_params, self.n_vars))
        for k in range(N):
            self.R_ref[4, nU + k * nx] = self.R_ref[5, nU + k * nx + 1] = 1.0
        lo, hi = self.arena
        self.z_max = np.concatenate([np.full(nU, self.u_max), np.tile([hi, hi, self.v_max, self.v_max], N)])
        self.z_min = np.concatenate([np.full(nU, -self.u_max), np.tile([lo, lo, -self.v_max, -self.v_max], N)])
        # the position entries of x, (N, 2) indices
        self.pos_index = nU + np.arange(N)[:, None] * nx + np.arange(2)[None, :]

    def goal(self, xi: np.ndarray) -> np.ndarray:
        """The goal positions, (batch, 2)."""
        return np.asarray(xi)[:, 4:6]

    def obstacles(self, xi: Any) -> tuple[Any, Any]:
        """Lower-left and upper-right corners of every obstacle, each (batch, n_obstacles, 2)."""
        c = xi[:, 6:].reshape(xi.shape[0], self.n_obstacles, 2)
        half = self._const(self.half, c)
        return c - half, c + half

    def positions(self, x: Any) -> Any:
        """The predicted positions p_1 … p_N, (batch, N, 2)."""
        return x[:, self.n_inputs:].reshape(x.shape[0], self.horizon, self.nx)[:, :, :2]

    def states(self, x: Any, xi: Any) -> np.ndarray:
        """The trajectory x_0 … x_N, (batch, N + 1, 4)."""
        xs = np.asarray(x)[:, self.n_inputs:].reshape(-1, self.horizon, self.nx)
        return np.concatenate([np.asarray(xi, dtype=float)[:, None, :4], xs], axis=1)

    def first_input(self, x: Any) -> Any:
        """u₀ of each solution, (batch, 2): what the controller applies."""
        return x[:, :self.nu]

    # ------------------------------------------------------------------ f, g, h (array API)
    def _objective(self, x: Any, xi: Any) -> Any:
        from array_api_compat import array_namespace

        xp = array_namespace(x)
        d = x - xi @ self._const(self.R_ref, x)
        return xp.sum(d * d * self._const(self.w, x), axis=1)

    def _eq(self, x: Any, xi: Any) -> Any:
        return x @ self._const(self.A_eq, x).T - xi @ self._const(self.E_eq, x).T

    def side_slack(self, x: Any, xi: Any) -> Any:
        """How far p_k lies beyond each side of each obstacle, (batch, N, n_obs, 4) in :data:`SIDES` order.

        ≥ 0 where p_k satisfies that side (e.g. lo_x − p_x for "left"), negative where it does not.
        """
        return self.point_slack(self.positions(x), xi)

    def point_slack(self, points: Any, xi: Any) -> Any:
        """:meth:`side_slack` of any points (batch, T, 2), e.g. a closed loop's positions: (batch, T, n_obs, 4)."""
        from array_api_compat import array_namespace

        xp = array_namespace(points)
        lo, hi = self.obstacles(xi)
        p = points[:, :, None, :]                                      # (batch, T, 1, 2)
        before, after = lo[:, None, :, :] - p, p - hi[:, None, :, :]  # (batch, T, n_obs, 2)
        return xp.stack([before[..., 0], after[..., 0], before[..., 1], after[..., 1]], axis=-1)

    def penetration(self, x: Any, xi: Any) -> Any:
        """Per step and obstacle, how deep p_k lies inside it, (batch, N, n_obs): −max over the sides of the slack.

        Positive inside (the distance to the nearest edge), ≤ 0 outside: the disjunctive constraint, exactly.
        """
        from array_api_compat import array_namespace

        return -array_namespace(x).max(self.side_slack(x, xi), axis=-1)

    def _ineq(self, x: Any, xi: Any) -> Any:
        from array_api_compat import array_namespace

        xp = array_namespace(x)
        pen = self.penetration(x, xi)
        return xp.concat([x - self._const(self.z_max, x), self._const(self.z_min, x) - x,
                          xp.reshape(pen, (x.shape[0], -1))], axis=1)

    # ------------------------------------------------------------------ strategies
    def sides(self, x: np.ndarray, xi: np.ndarray, tol: float = 1e-5) -> np.ndarray:
        """The sides each position satisfies (to ``tol``), (batch, N, n_obs, 4) bool in :data:`SIDES` order.

        Enforcing exactly these sides (δ = 0 where True) keeps x feasible: the integer assignment read off x.
        """
        x = np.asarray(self.check_x(x, where=f"{self.name}.sides"), dtype=float)
        xi = np.asarray(self.check_params(xi, check_domain=False, where=f"{self.name}.sides"), dtype=float)
        return self.side_slack(x, xi) >= -tol

    def fixed_integer_qp(self) -> FixedSidesQP:
        """The QP left when the sides are fixed (:class:`FixedSidesQP`), built once."""
        form = self.__dict__.get("_fixed_qp")
        if form is None:
            form = self.__dict__["_fixed_qp"] = FixedSidesQP(self)
        return form

    def check_sides(self, sides: Any, batch: int, where: str) -> np.ndarray:
        """``sides`` as (batch, N, n_obs, 4) bool (a flat (batch, N·n_obs·4) 0/1 array is accepted)."""
        s = np.asarray(sides)
        shape = (batch, self.horizon, self.n_obstacles, len(SIDES))
        if s.shape == (batch, self.n_sides):
            s = s.reshape(shape)
        if s.shape != shape:
            raise ValueError(f"{where}: sides must have shape {shape} or ({batch}, {self.n_sides}), got {s.shape}")
        if s.dtype != bool:
            if not np.isin(s, (0, 1)).all():
                raise ValueError(f"{where}: sides must be 0/1 (or bool)")
            s = s.astype(bool)
        return s

    def position_bounds(self, xi: np.ndarray, sides: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of p_k, each (batch, N, 2), with the ``sides`` enforced and the arena's.

        Enforcing "left of o" is p_{k,x} ≤ lo_{o,x}; several enforced sides on one coordinate take the tightest.
        A step whose enforced sides contradict each other gets a lower bound above its upper one (infeasible).
        """
        lo, hi = self.obstacles(np.asarray(xi, dtype=float))
        a_lo, a_hi = self.arena
        s = sides
        upper = np.stack([np.where(s[..., 0], lo[:, None, :, 0], a_hi).min(axis=2, initial=a_hi),
                          np.where(s[..., 2], lo[:, None, :, 1], a_hi).min(axis=2, initial=a_hi)], axis=-1)
        lower = np.stack([np.where(s[..., 1], hi[:, None, :, 0], a_lo).max(axis=2, initial=a_lo),
                          np.where(s[..., 3], hi[:, None, :, 1], a_lo).max(axis=2, initial=a_lo)], axis=-1)
        return lower, upper

    # ------------------------------------------------------------------ the reference: SCIP
    def _solve_one(self, xi: np.ndarray, *, start: np.ndarray | None = None
                   ) -> tuple[np.ndarray | None, float, str, float]:
        x, f, status, t, _ = self.scip_solve(xi, start=start)
        return x, f, status, t

    def scip_solve(self, xi: np.ndarray, *, start: np.ndarray | None = None, tangents: bool = False,
                   emphasis: str | None = None) -> tuple[np.ndarray | None, float, str, float, dict[str, Any]]:
        """One instance by SCIP: (x or None, objective, status, SCIP's own time, info).

        ``start``: a feasible x (n_vars,) handed to SCIP as its first solution (with the binaries read off it
        and the epigraph variables at their values): a primal bound from the start. ``emphasis``: one of SCIP's
        emphasis settings (``"easycip"``, ``"optimality"``, ...; SCIP_PARAMEMPHASIS in lower case), the same
        gap tolerance. ``info`` holds the node count, whether SCIP accepted the start, and (when solved) the
        time at which SCIP had its best solution.
        """
        from pyscipopt import SCIP_PARAMEMPHASIS, Model, quicksum

        xi = np.asarray(xi, dtype=float)
        N, n_obs = self.horizon, self.n_obstacles
        m = Model()
        m.hideOutput()
        if emphasis is not None:
            names = sorted(k.lower() for k in vars(SCIP_PARAMEMPHASIS) if k.isupper())
            if not isinstance(emphasis, str) or emphasis.lower() not in names:
                raise ValueError(f"{self.name}.scip_solve: emphasis must be one of {names}, got {emphasis!r}")
            m.setEmphasis(getattr(SCIP_PARAMEMPHASIS, emphasis.upper()))
        m.setParam("limits/gap", self.mip_gap)
        m.setParam("limits/time", self.time_limit)
        m.setParam("timing/clocktype", 2)  # wall clock
        z = [m.addVar(lb=float(lo), ub=float(hi), name=f"z{j}") for j, (lo, hi) in enumerate(zip(self.z_min, self.z_max))]
        for i, row in enumerate(self.A_eq):
            nz = np.flatnonzero(row)
            m.addCons(quicksum(float(row[j]) * z[j] for j in nz) == float(self.E_eq[i] @ xi))
        lo, hi = (c[0] for c in self.obstacles(xi[None, :]))
        a_lo, a_hi = self.arena
        delta = {}
        for k in range(N):
            px, py = z[self.pos_index[k, 0]], z[self.pos_index[k, 1]]
            for o in range(n_obs):
                d = [m.addVar(vtype="B", name=f"d{k}_{o}_{j}") for j in range(4)]
                m.addCons(px <= lo[o, 0] + (a_hi - lo[o, 0]) * d[0])
                m.addCons(px >= hi[o, 0] - (hi[o, 0] - a_lo) * d[1])
                m.addCons(py <= lo[o, 1] + (a_hi - lo[o, 1]) * d[2])
                m.addCons(py >= hi[o, 1] - (hi[o, 1] - a_lo) * d[3])
                m.addCons(quicksum(d) <= 3)
                delta[k, o] = d
        ref = xi @ self.R_ref
        aux = []
        for j in range(self.n_vars):
            t = m.addVar(lb=0.0, name=f"t{j}")
            m.addCons((z[j] - float(ref[j])) * (z[j] - float(ref[j])) <= t)
            aux.append(t)
        m.setObjective(quicksum(float(self.w[j]) * aux[j] for j in range(self.n_vars)), "minimize")
        info: dict[str, Any] = {"start_accepted": False}
        if start is not None:
            start = np.asarray(start, dtype=float)
            if start.shape != (self.n_vars,):
                raise ValueError(f"{self.name}.scip_solve: start must have shape ({self.n_vars},), got {start.shape}")
            sol = m.createSol()
            for j in range(self.n_vars):
                m.setSolVal(sol, z[j], float(start[j]))
                m.setSolVal(sol, aux[j], float((start[j] - ref[j]) ** 2))
            sat = self.sides(start[None, :], xi[None, :], tol=1e-6)[0]
            for (k, o), d in delta.items():
                for j in range(4):
                    m.setSolVal(sol, d[j], 0.0 if sat[k, o, j] else 1.0)
            info["start_accepted"] = bool(m.addSol(sol, free=True))
            if tangents:  # each squared term's tangent at the start: the objective's outer approximation there
                for j in range(self.n_vars):
                    e = float(start[j] - ref[j])
                    m.addCons(aux[j] >= 2 * e * (z[j] - float(ref[j])) - e * e)
        t0 = time.perf_counter()
        m.optimize()
        wall = time.perf_counter() - t0
        status = str(m.getStatus())
        info.update(nodes=int(m.getNNodes()), wall=wall)
        t = float(m.getSolvingTime())
        if status not in _SOLVED or m.getNSols() == 0:
            return None, np.nan, status, t, info
        best = m.getBestSol()
        info["time_best"] = float(m.getSolTime(best))
        x = np.array([m.getSolVal(best, v) for v in z])
        return x, float(self._objective(x[None, :], xi[None, :])[0]), OPTIMAL, t, info

    def solve_from(self, xi: Any, starts: np.ndarray, *, check_domain: bool = True) -> tuple[Any, dict[str, np.ndarray]]:
        """:meth:`solve` with a starting solution per instance (rows of ``starts``; a row of NaN: none).

        Returns the :class:`~l2o_lib.problems.Solution` and per-instance ``nodes`` and ``start_accepted``.
        """
        from l2o_lib.problems.base import Solution

        xi = np.asarray(self.check_params(xi, check_domain=check_domain, where=f"{self.name}.solve_from"), dtype=float)
        starts = np.asarray(starts, dtype=float)
        if starts.shape != (len(xi), self.n_vars):
            raise ValueError(f"{self.name}.solve_from: starts must have shape ({len(xi)}, {self.n_vars}), "
                             f"got {starts.shape}")
        n = len(xi)
        x, obj = np.full((n, self.n_vars), np.nan), np.full(n, np.nan)
        status, t, wall = np.empty(n, dtype=object), np.zeros(n), np.zeros(n)
        nodes, accepted = np.zeros(n, dtype=int), np.zeros(n, dtype=bool)
        for i in range(n):
            t0 = time.perf_counter()
            start = starts[i] if np.isfinite(starts[i]).all() else None
            xs, f, status[i], t[i], info = self.scip_solve(xi[i], start=start)
            wall[i] = time.perf_counter() - t0
            nodes[i], accepted[i] = info["nodes"], info["start_accepted"]
            if xs is not None:
                x[i], obj[i] = xs, f
        sol = Solution(x=x, objective=obj, status=status.astype(str), solve_time=t, wall_time=wall,
                       solver=self.reference_solver)
        return sol, {"nodes": nodes, "start_accepted": accepted}

    def relaxed_binaries(self, xi: Any, *, check_domain: bool = True) -> np.ndarray:
        """The binaries of the continuous relaxation (0 ≤ δ ≤ 1) of the big-M problem, (batch, N, n_obs, 4).

        The same rows as :meth:`scip_solve` with δ continuous, solved by Clarabel per instance; NaN where it
        reports no solution. The start of relax-and-round.
        """
        import clarabel

        xi = np.asarray(self.check_params(xi, check_domain=check_domain, where=f"{self.name}.relaxed_binaries"),
                        dtype=float)
        P, A, slot, settings = self._relaxation()
        N, n_obs, n, nd = self.horizon, self.n_obstacles, self.n_vars, self.n_sides
        a_lo, a_hi = self.arena
        lo, hi = self.obstacles(xi)                                   # (batch, n_obs, 2)
        # side j of obstacle o at step k: sign_j · p_{k,axis_j} − M δ ≤ sign_j · edge_j
        M = np.stack([a_hi - lo[..., 0], hi[..., 0] - a_lo, a_hi - lo[..., 1], hi[..., 1] - a_lo], axis=-1)
        edge = np.stack([lo[..., 0], -hi[..., 0], lo[..., 1], -hi[..., 1]], axis=-1)
        cones = [clarabel.ZeroConeT(self.n_eq), clarabel.NonnegativeConeT(A.shape[0] - self.n_eq)]
        out = np.full((len(xi), N, n_obs, 4), np.nan)
        for i, row in enumerate(xi):
            A.data[slot] = -np.tile(M[i].ravel(), N)
            b = np.concatenate([self.E_eq @ row, self.z_max, -self.z_min, np.ones(nd), np.zeros(nd),
                                np.full(N * n_obs, 3.0), np.tile(edge[i].ravel(), N)])
            q = np.concatenate([-2.0 * self.w * (row @ self.R_ref), np.zeros(nd)])
            sol = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
            if str(sol.status).endswith("Solved") and "Almost" not in str(sol.status):
                out[i] = np.asarray(sol.x)[n:].reshape(N, n_obs, 4)
        return out

    def _relaxation(self) -> tuple[Any, Any, np.ndarray, Any]:
        """The relaxation's P and A (Clarabel's A [x; δ] + s = b: dynamics, then ≤ rows), built once, with the
        positions in A.data of the big-M coefficients, rows (k, o, j) in order."""
        cache = self.__dict__.get("_relaxation_cache")
        if cache is not None:
            return cache
        import clarabel
        import scipy.sparse as sp

        N, n_obs, n, nd = self.horizon, self.n_obstacles, self.n_vars, self.n_sides
        P = sp.triu(sp.block_diag([sp.diags(2.0 * self.w), sp.csc_matrix((nd, nd))])).tocsc()
        r = np.arange(nd)
        axis = np.tile([0, 0, 1, 1], N * n_obs)
        step = r // (4 * n_obs)
        sign = np.tile([1.0, -1.0, 1.0, -1.0], N * n_obs)
        bigm = sp.csc_matrix((np.concatenate([sign, np.full(nd, np.pi)]),
                              (np.concatenate([r, r]), np.concatenate([self.pos_index[step, axis], n + r]))),
                             shape=(nd, n + nd))
        I_n, I_d, Z_nd, Z_dn = sp.eye(n), sp.eye(nd), sp.csc_matrix((n, nd)), sp.csc_matrix((nd, n))
        A = sp.vstack([sp.hstack([sp.csc_matrix(self.A_eq), sp.csc_matrix((self.n_eq, nd))]),
                       sp.hstack([I_n, Z_nd]), sp.hstack([-I_n, Z_nd]), sp.hstack([Z_dn, I_d]), sp.hstack([Z_dn, -I_d]),
                       sp.hstack([sp.csc_matrix((N * n_obs, n)), sp.kron(sp.eye(N * n_obs), np.ones((1, 4)))]),
                       bigm]).tocsc()
        A.sort_indices()
        # the big-M entries: columns n + r, last row block; CSC stores them in column order = row order r
        first = A.shape[0] - nd
        slot = np.array([A.indptr[n + j] + np.flatnonzero(A.indices[A.indptr[n + j]:A.indptr[n + j + 1]] == first + j)[0]
                         for j in range(nd)])
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        cache = self.__dict__["_relaxation_cache"] = (P, A, slot, settings)
        return cache

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out: list[np.ndarray] = []
        have = 0
        while have < n:
            draw = rng.uniform(self.param_low, self.param_high, size=(2 * (n - have) + 16, self.n_params))
            keep = draw[~self.start_inside(draw)]
            out.append(keep)
            have += len(keep)
        return self.canonical(np.concatenate(out)[:n])

    def canonical(self, xi: np.ndarray) -> np.ndarray:
        """ξ with the obstacles listed from left to right (by center x): the same instances, in Ξ's order.

        The order of the obstacles is arbitrary for the problem, not for a strategy (its binaries are
        indexed by obstacle); the sampler draws, and a learned strategy expects, this order.
        """
        xi = np.array(xi, dtype=float)
        c = xi[:, 6:].reshape(len(xi), self.n_obstacles, 2)
        order = np.argsort(c[:, :, 0], axis=1, kind="stable")
        xi[:, 6:] = np.take_along_axis(c, order[:, :, None], axis=1).reshape(len(xi), -1)
        return xi

    def start_inside(self, xi: np.ndarray) -> np.ndarray:
        """Whether each start position lies inside an obstacle (such ξ are not in Ξ: nothing can be done)."""
        xi = np.asarray(xi, dtype=float)
        lo, hi = self.obstacles(xi)
        p = xi[:, None, :2]
        return np.any(np.all((p > lo) & (p < hi), axis=2), axis=1)


@dataclass(frozen=True)
class FixedSidesQP:
    """The convex QP left when the integers are fixed: its parameter is θ = (ξ, sides) (see :meth:`theta`).

    An :class:`~l2o_lib.problems.OSQPForm`: ``qp(θ)`` gives OSQP's form with P and A the same for every θ (the
    dynamics, then the identity on x), q depending on the goal and l, u on the start, the obstacles and the
    enforced sides. Any session that sets P and A up once serves every candidate strategy of every instance.
    """

    family: ObstacleMPC

    @property
    def n_params(self) -> int:
        return self.family.n_params + self.family.n_sides

    @property
    def name(self) -> str:
        return f"{self.family.name} (sides fixed)"

    def theta(self, xi: np.ndarray, sides: np.ndarray) -> np.ndarray:
        """θ = (ξ, sides as 0/1), (batch, n_params + N·n_obs·4)."""
        xi = np.asarray(xi, dtype=float)
        s = self.family.check_sides(sides, len(xi), "FixedSidesQP.theta")
        return np.concatenate([xi, s.reshape(len(xi), -1).astype(float)], axis=1)

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ξ, sides) of θ."""
        theta = np.asarray(theta, dtype=float)
        if theta.ndim != 2 or theta.shape[1] != self.n_params:
            raise ValueError(f"FixedSidesQP: θ must have shape (batch, {self.n_params}), got {theta.shape}")
        fam = self.family
        return theta[:, :fam.n_params], fam.check_sides(theta[:, fam.n_params:], len(theta), "FixedSidesQP")

    def qp(self, theta: Any | None = None, *, check_domain: bool = True) -> QPData:
        """OSQP's form: rows the N·4 dynamics equalities, then the identity on x; q, l, u are (batch, ·).

        Without θ: the instance ξ = the middle of Ξ with no side enforced (the arena's bounds only).
        """
        fam = self.family
        if theta is None:
            xi = (0.5 * (fam.param_low + fam.param_high))[None, :]
            sides = np.zeros((1, fam.horizon, fam.n_obstacles, len(SIDES)), dtype=bool)
        else:
            xi, sides = self.split(theta)
            fam.check_params(xi, check_domain=check_domain, where=f"{self.name}.qp")
        n = len(xi)
        beq = xi @ fam.E_eq.T
        lo, hi = np.tile(fam.z_min, (n, 1)), np.tile(fam.z_max, (n, 1))
        p_lo, p_hi = fam.position_bounds(xi, sides)
        rows = fam.pos_index.ravel()
        lo[:, rows], hi[:, rows] = p_lo.reshape(n, -1), p_hi.reshape(n, -1)
        P, A = self._matrices()
        return QPData(P=P, q=-2.0 * fam.w * (xi @ fam.R_ref), A=A, l=np.concatenate([beq, lo], axis=1),
                      u=np.concatenate([beq, hi], axis=1), n_eq=fam.n_eq)

    def _matrices(self) -> tuple[Any, Any]:
        """P and A, the same for every θ: built once."""
        cache = self.__dict__.get("_PA")
        if cache is None:
            import scipy.sparse as sp

            fam = self.family
            cache = (sp.diags(2.0 * fam.w).tocsc(), sp.vstack([sp.csc_matrix(fam.A_eq), sp.eye(fam.n_vars)]).tocsc())
            object.__setattr__(self, "_PA", cache)
        return cache

    def objective(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The family's objective of each x at θ's ξ."""
        return self.family.objective(x, self.split(theta)[0])

    def feasible(self, x: np.ndarray, theta: np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """Whether each solution of the fixed QP clears every obstacle (to ``tol``): feasible for the MIQP.

        Always true when every step enforces a side of every obstacle; a strategy that leaves sides free (the
        tight sides of :func:`l2o_lib.strategies.tight_strategy`) is only as good as this check.
        """
        return self.family.penetration(x, self.split(theta)[0]).reshape(len(x), -1).max(axis=1) <= tol

    def relaxation(self, xi: np.ndarray) -> np.ndarray:
        """θ of the convex relaxation: no side enforced (the obstacles dropped). A lower bound, and where its answer
        clears every obstacle, the optimum."""
        xi = np.asarray(xi, dtype=float)
        return self.theta(xi, np.zeros((len(xi), self.family.n_sides), dtype=np.int8))

    def repair(self, x: np.ndarray, theta: np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """θ with, at every step where x lies inside an obstacle, the side of that obstacle nearest to x enforced.

        A lazy constraint: the next solve keeps the trajectory out of what it crossed, by the shortest way out.
        """
        xi, sides = self.split(theta)
        slack = self.family.side_slack(x, xi)
        inside = (-slack.max(axis=-1)) > tol                      # (batch, N, n_obs)
        nearest = np.zeros_like(sides)
        np.put_along_axis(nearest, slack.argmax(axis=-1)[..., None], True, axis=-1)
        return self.theta(xi, sides | (nearest & inside[..., None]))
