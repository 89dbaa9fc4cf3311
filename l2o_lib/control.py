"""Closed-loop simulation of controllers on a linear plant, and the metrics that judge them (chapter 9).

A controller maps the measured states of a batch of independent systems to their inputs, one sampling
instant at a time, and reports the time it spent per system. :func:`simulate` runs it in closed loop on
x_{t+1} = A x_t + B u_t (the model, or a perturbed plant) from a batch of initial states, and returns a
:class:`ClosedLoop`: the trajectories, the inputs, the time per step and system, and the steps at which a
solver failed. :func:`closed_loop_table` scores several controllers run from the same initial states:
closed-loop cost relative to a reference controller (mean and worst), constraint violations, the share
reaching a target set, and the time per step relative to a timing reference measured in the same run.

The controllers need the capabilities of a linear MPC problem family, not its name: the system matrices
``A, B``, the weights ``Q, R, P``, the bounds ``x_min, x_max, u_min, u_max``, the ``horizon``, the
decision layout of :meth:`first_input`, and its QP in OSQP's form (:meth:`qp`, where only the bounds depend
on x₀). The safe set for a safety filter is computed by :func:`control_invariant_set`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

# ------------------------------------------------------------------------------------------ invariant sets


@dataclass(frozen=True)
class Polytope:
    """{x : H x ≤ h} in the plane, with its vertices in counter-clockwise order."""

    H: np.ndarray
    h: np.ndarray
    vertices: np.ndarray

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Boolean mask over the rows of ``x`` (batch, 2)."""
        x = np.asarray(x, dtype=float)
        return np.all(x @ self.H.T <= self.h + tol, axis=-1)

    def margin(self, x: np.ndarray) -> np.ndarray:
        """min_i (h_i − H_i x) / ‖H_i‖: the distance to the boundary inside, negative outside."""
        norms = np.linalg.norm(self.H, axis=1)
        return np.min((self.h - np.asarray(x, dtype=float) @ self.H.T) / norms, axis=-1)

    @property
    def area(self) -> float:
        v = self.vertices
        return 0.5 * abs(float(np.dot(v[:, 0], np.roll(v[:, 1], -1)) - np.dot(v[:, 1], np.roll(v[:, 0], -1))))

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` points uniformly inside (rejection from the bounding box)."""
        rng = np.random.default_rng(seed)
        lo, hi = self.vertices.min(0), self.vertices.max(0)
        out: list[np.ndarray] = []
        have = 0
        while have < n:
            draw = rng.uniform(lo, hi, size=(2 * (n - have) + 16, 2))
            keep = draw[self.contains(draw)]
            out.append(keep)
            have += len(keep)
        return np.concatenate(out)[:n]


def _minimal(H: np.ndarray, h: np.ndarray) -> Polytope:
    """Drop redundant rows of a bounded 2-D polytope containing the origin in its interior."""
    from scipy.spatial import ConvexHull, HalfspaceIntersection

    if np.any(h <= 0):
        raise ValueError("control_invariant_set: the origin must lie strictly inside every set of the iteration")
    points = HalfspaceIntersection(np.hstack([H, -h[:, None]]), np.zeros(2)).intersections
    hull = ConvexHull(points)
    eq = hull.equations  # rows (a, b) with a·x + b ≤ 0 inside
    return Polytope(H=eq[:, :2].copy(), h=-eq[:, 2].copy(), vertices=points[hull.vertices])


def _pre(poly: Polytope, A: np.ndarray, B: np.ndarray, u_min: float, u_max: float) -> tuple[np.ndarray, np.ndarray]:
    """{x : ∃ u ∈ [u_min, u_max], A x + B u ∈ poly}, by Fourier–Motzkin elimination of the single input."""
    G = np.vstack([poly.H @ A, np.zeros((2, A.shape[1]))])
    b = np.concatenate([(poly.H @ B)[:, 0], [1.0, -1.0]])
    c = np.concatenate([poly.h, [u_max, -u_min]])
    pos, neg = np.flatnonzero(b > 1e-12), np.flatnonzero(b < -1e-12)
    zero = np.flatnonzero(np.abs(b) <= 1e-12)
    rows = [G[i] / b[i] - G[j] / b[j] for i in pos for j in neg] + [G[i] for i in zero]
    rhs = [c[i] / b[i] - c[j] / b[j] for i in pos for j in neg] + [c[i] for i in zero]
    return np.array(rows), np.array(rhs)


def control_invariant_set(A: np.ndarray, B: np.ndarray, x_min: np.ndarray, x_max: np.ndarray, u_min: np.ndarray,
                          u_max: np.ndarray, *, max_iter: int = 200, tol: float = 1e-9) -> tuple[Polytope, int]:
    """The maximal control invariant set of x⁺ = A x + B u inside the state box, inputs in their box.

    Iterates C_{k+1} = C_k ∩ Pre(C_k) from C_0 = the state box until the area stops changing; returns the set
    and the number of iterations. From every state in it some admissible input keeps the next state in it,
    forever; outside it no input sequence keeps the state in its box for ever. Two states, one input.
    """
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if A.shape != (2, 2) or B.shape != (2, 1):
        raise ValueError(f"control_invariant_set: needs two states and one input, got A {A.shape}, B {B.shape}")
    x_min, x_max = np.asarray(x_min, dtype=float), np.asarray(x_max, dtype=float)
    u_lo, u_hi = float(np.asarray(u_min).ravel()[0]), float(np.asarray(u_max).ravel()[0])
    if not (np.all(x_min < 0) and np.all(x_max > 0) and u_lo <= 0 <= u_hi):
        raise ValueError("control_invariant_set: the state box must contain the origin inside and the input box 0")
    box = _minimal(np.vstack([np.eye(2), -np.eye(2)]), np.concatenate([x_max, -x_min]))
    current = box
    for k in range(1, max_iter + 1):
        Hp, hp = _pre(current, A, B, u_lo, u_hi)
        nxt = _minimal(np.vstack([current.H, Hp]), np.concatenate([current.h, hp]))
        if abs(nxt.area - current.area) <= tol * max(1.0, box.area):
            return nxt, k
        current = nxt
    raise RuntimeError(f"control_invariant_set: no convergence in {max_iter} iterations (area {current.area:.6g})")


def safe_input_interval(x: np.ndarray, safe: Polytope, A: np.ndarray, B: np.ndarray, u_min: float, u_max: float,
                        margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """For each state, the interval [lo, hi] of admissible inputs u with A x + B u ∈ ``safe`` (one input).

    ``margin`` asks for that distance inside the set. The interval is empty (lo > hi) where x is outside
    the control invariant set.
    """
    x = np.asarray(x, dtype=float)
    coef = (safe.H @ B)[:, 0]  # H (A x + B u) ≤ h  <=>  coef · u ≤ h − H A x
    slack = safe.h[None, :] - margin * np.linalg.norm(safe.H, axis=1)[None, :] - x @ (safe.H @ A).T
    with np.errstate(divide="ignore"):
        bound = slack / coef[None, :]
    lo = np.max(np.where(coef[None, :] < 0, bound, -np.inf), axis=1, initial=-np.inf)
    hi = np.min(np.where(coef[None, :] > 0, bound, np.inf), axis=1, initial=np.inf)
    return np.maximum(lo, u_min), np.minimum(hi, u_max)


# ------------------------------------------------------------------------------------------ controllers


class Controller(Protocol):
    """What :func:`simulate` drives: ``reset`` with the initial states, then ``step`` once per instant."""

    name: str

    def reset(self, x0: np.ndarray) -> None: ...

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs (batch, nu), seconds spent per system (batch,), and a per-system failure flag (batch,)."""
        ...


class PolicyController:
    """An explicit policy u = π(x) evaluated on the whole batch at once; time per system = batch time / batch."""

    def __init__(self, name: str, policy: Callable[[np.ndarray], np.ndarray]):
        self.name, self.policy = name, policy

    def reset(self, x0: np.ndarray) -> None:
        self.policy(np.asarray(x0[:1], dtype=float))  # warm-up (first call of a torch module is slow)

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        u = np.asarray(self.policy(x), dtype=float).reshape(len(x), -1)
        dt = (time.perf_counter() - t0) / len(x)
        return u, np.full(len(x), dt), np.zeros(len(x), dtype=bool)


class SafetyFilter:
    """A policy whose input is clipped, at run time, to the inputs that keep the next state in a safe set.

    With ``safe`` control invariant, every state in it has a non-empty interval, so the closed loop never
    leaves it and never violates a state or input bound, whatever the policy proposes. A state outside it
    (empty interval) gets the least violating input instead, and is flagged. ``model = (A, B)`` predicts the
    next state with other matrices than the family's (e.g. those of the plant, with ``safe`` computed for them).
    """

    def __init__(self, name: str, policy: Callable[[np.ndarray], np.ndarray], safe: Polytope, family: Any, *,
                 model: tuple[np.ndarray, np.ndarray] | None = None):
        if family.nu != 1:
            raise ValueError(f"SafetyFilter: needs one input, the family has {family.nu}")
        self.name, self.policy, self.safe = name, policy, safe
        A, B = (family.A, family.B) if model is None else model
        self.A, self.B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
        if self.A.shape != (2, 2) or self.B.shape != (2, 1):
            raise ValueError(f"SafetyFilter: model matrices must be (2, 2) and (2, 1), got {self.A.shape}, {self.B.shape}")
        self.u_min, self.u_max = float(family.u_min[0]), float(family.u_max[0])

    def filter(self, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The filtered inputs and a flag for the states whose safe interval is empty."""
        # aim a hair inside the set: riding its boundary exactly, rounding errors grow with the unstable mode
        lo, hi = safe_input_interval(x, self.safe, self.A, self.B, self.u_min, self.u_max, margin=1e-7)
        empty = lo > hi
        # an empty interval: the input where the two sides cross is the least violating one
        mid = np.clip(0.5 * (lo + hi), self.u_min, self.u_max)
        lo, hi = np.where(empty, mid, lo), np.where(empty, mid, hi)
        return np.clip(u[:, 0], lo, hi)[:, None], empty

    def reset(self, x0: np.ndarray) -> None:
        self.policy(np.asarray(x0[:1], dtype=float))

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        u, empty = self.filter(x, np.asarray(self.policy(x), dtype=float).reshape(len(x), -1))
        dt = (time.perf_counter() - t0) / len(x)
        return u, np.full(len(x), dt), empty


class ActiveSetHybrid:
    """The safe hybrid: a predicted plan, a few active-set iterations that certify it, a safety filter.

    At each step the network predicts the N inputs. Their nearly active constraints of the condensed QP
    (min ½UᵀHU + (Fx)ᵀU s.t. GU ≤ w + Ex) are guessed active. On a fixed active set the KKT system gives the
    minimizer and multipliers as affine functions of x (explicit MPC's law of that region), computed once per
    active set and cached; the plan is optimal when it is feasible and its multipliers are ≥ 0 (both checked to
    ``tol``). Otherwise violated constraints join the set and negative multipliers leave it, at most
    ``iterations`` times (a primal-dual active-set step warm-started by the network). A step that is still
    not certified is solved by OSQP warm-started from the refined plan (``fallback=True``) or applies the
    network's input; every input finally passes the :class:`SafetyFilter`, so the closed loop never leaves
    the control invariant set, certified or not.
    """

    def __init__(self, name: str, plan: Callable[[np.ndarray], np.ndarray], safe: Polytope, family: Any, *,
                 iterations: int = 5, guess: float = 0.03, tol: float = 1e-7, fallback: bool = True,
                 eps: float = 1e-5):
        self.name, self.plan, self.iterations, self.guess, self.tol = name, plan, int(iterations), guess, tol
        self.family = family
        self.session = None
        if fallback:
            from l2o_lib.solvers import OSQPSession

            self.session = OSQPSession(family, eps=eps, rho=10.0, polishing=True)
        self.filter = SafetyFilter(name, plan, safe, family)
        c = family.condensed()
        self.H, self.F, self.G, self.w, self.E = c.H, c.F, c.G, c.w, c.E
        self.Phi, self.Gamma = c.Phi, c.Gamma
        self.scale = np.maximum(np.abs(c.w), 1.0)  # constraint units: 1 for inputs, the state bound for states
        self.laws: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}
        self.certified: list[np.ndarray] = []
        self.fallbacks = 0

    def reset(self, x0: np.ndarray) -> None:
        self.plan(np.asarray(x0[:1], dtype=float))
        self.certified, self.fallbacks = [], 0

    def law(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(M, c, idx): the KKT solution on the active rows ``idx`` is M x + c; ``None`` if the set is degenerate."""
        key = np.packbits(active).tobytes()
        if key not in self.laws:
            idx = np.flatnonzero(active)
            n, k = self.H.shape[0], len(idx)
            K = np.zeros((n + k, n + k))
            K[:n, :n], K[:n, n:], K[n:, :n] = self.H, self.G[idx].T, self.G[idx]
            rhs_x = np.vstack([-self.F, self.E[idx]])
            rhs_1 = np.concatenate([np.zeros(n), self.w[idx]])
            if k and np.linalg.matrix_rank(self.G[idx]) < k:
                self.laws[key] = None
            else:
                sol = np.linalg.solve(K, np.column_stack([rhs_x, rhs_1]))
                self.laws[key] = (sol[:, :-1], sol[:, -1], idx)
        return self.laws[key]

    def refine(self, x: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Certified optimal plans where the active-set iterations succeed; a mask of those rows."""
        n = self.H.shape[0]
        b = self.w + x @ self.E.T
        active = (U @ self.G.T - b) > -self.guess * self.scale
        ok = np.zeros(len(x), dtype=bool)
        out = U.copy()
        todo = np.arange(len(x))
        for _ in range(self.iterations):
            keys, inverse = np.unique(np.packbits(active[todo], axis=1), axis=0, return_inverse=True)
            Us = np.zeros((len(todo), n))
            lam = np.zeros((len(todo), self.G.shape[0]))
            usable = np.ones(len(todo), dtype=bool)
            for g in range(len(keys)):
                rows = np.flatnonzero(inverse.ravel() == g)
                law = self.law(active[todo[rows[0]]])
                if law is None:
                    usable[rows] = False
                    continue
                M, c, idx = law
                sol = x[todo[rows]] @ M.T + c
                Us[rows], lam[np.ix_(rows, idx)] = sol[:, :n], sol[:, n:]
            viol = (Us @ self.G.T - b[todo]) > self.tol * self.scale
            neg = active[todo] & (lam < -self.tol)
            good = usable & ~viol.any(1) & ~neg.any(1)
            out[todo[good]], ok[todo[good]] = Us[good], True
            active[todo] = (active[todo] | viol) & ~neg
            todo = todo[~good]
            if not len(todo):
                break
        return out, ok

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        U, ok = self.refine(x, np.asarray(self.plan(x), dtype=float).reshape(len(x), -1))
        dt = np.full(len(x), (time.perf_counter() - t0) / len(x))
        rest = np.flatnonzero(~ok)
        if self.session is not None and len(rest):
            plans = np.concatenate([U[rest], x[rest] @ self.Phi.T + U[rest] @ self.Gamma.T], axis=1)
            res = self.session.solve(x[rest], x0=plans, check_domain=False)
            good = res.ok
            U[rest[good]] = res.x[good, :U.shape[1]]
            dt[rest] += res.wall_time
            self.fallbacks += len(rest)
        t1 = time.perf_counter()
        u, empty = self.filter.filter(x, U[:, :self.family.nu])
        dt += (time.perf_counter() - t1) / len(x)
        self.certified.append(ok)
        return u, dt, empty


def _shift_dual(y: np.ndarray, family: Any) -> np.ndarray:
    """OSQP duals of the previous solve moved one step ahead, block by block (the last step repeated)."""
    N, nu, nx = family.horizon, family.nu, family.nx
    blocks, start = [], 0
    for width in (nx, nu, nx):  # dynamics rows, input bounds, state bounds
        b = y[start:start + N * width].reshape(N, width)
        blocks.append(np.vstack([b[1:], b[-1:]]).ravel())
        start += N * width
    return np.concatenate(blocks)


def _shift(z: np.ndarray, family: Any) -> np.ndarray:
    """The previous plan moved one step ahead: (u₁ … u_{N−1}, u_{N−1}, x₂ … x_N, A x_N + B u_{N−1})."""
    N, nu, nx = family.horizon, family.nu, family.nx
    u, xs = z[:N * nu].reshape(N, nu), z[N * nu:].reshape(N, nx)
    u_next = np.vstack([u[1:], u[-1:]])
    x_next = np.vstack([xs[1:], (family.A @ xs[-1] + family.B @ u[-1])[None, :]])
    return np.concatenate([u_next.ravel(), x_next.ravel()])


class OSQPController:
    """Exact MPC by OSQP (:class:`l2o_lib.solvers.OSQPSession`: set up and factorized once, bounds updated).

    With ``warm=True`` each solve starts from the system's previous solution shifted by one step (primal and
    duals), the practice of a control engineer; otherwise from zero. Where OSQP does not report a solution
    the step is flagged and the shifted previous plan's first input is applied. The start value ρ = 10 needs
    the fewest iterations on the double integrator (worst warm-started step 3401 iterations against 14775
    at OSQPSession's default 0.1, over 60 runs of 40 steps).
    """

    def __init__(self, family: Any, *, warm: bool = True, eps: float = 1e-5, rho: float = 10.0, name: str | None = None,
                 **settings: Any):
        from l2o_lib.solvers import OSQPSession

        self.family, self.warm = family, warm
        self.name = name or f"exact MPC (OSQP, {'warm' if warm else 'cold'} start)"
        self.session = OSQPSession(family, eps=eps, rho=rho, **{"polishing": True, **settings})
        self.iterations: list[np.ndarray] = []

    def reset(self, x0: np.ndarray) -> None:
        self.plans = np.zeros((len(x0), self.session.n))
        self.duals = np.zeros((len(x0), self.session.m))
        self.have = np.zeros(len(x0), dtype=bool)
        self.iterations = []

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fam = self.family
        warm = self.warm and self.have.any()
        x0 = np.array([_shift(p, fam) for p in self.plans]) if warm else None
        y0 = np.array([_shift_dual(d, fam) for d in self.duals]) if warm else None
        res = self.session.solve(x, x0=x0, y0=y0, check_domain=False)
        self.iterations.append(res.iters)
        ok = res.ok
        fallback = np.clip(np.array([_shift(p, fam)[:fam.nu] for p in self.plans]), fam.u_min, fam.u_max)
        u = np.where(ok[:, None], np.nan_to_num(res.x[:, :fam.nu]), fallback)
        self.plans[ok], self.duals[ok] = res.x[ok], res.y[ok]
        for i in np.flatnonzero(~ok):
            self.plans[i] = _shift(self.plans[i], fam)
        self.have |= ok
        return u, res.wall_time, ~ok


class ClarabelController:
    """Exact MPC by Clarabel (interior point, no warm start), one solve per system and step.

    Where Clarabel does not report a solution the step is flagged and the shifted previous plan's first input
    is applied, as in :class:`OSQPController`.
    """

    def __init__(self, family: Any, *, tol: float = 1e-8, name: str = "exact MPC (Clarabel)"):
        import clarabel
        import scipy.sparse as sp

        self.family, self.name = family, name
        data = family.qp(None)
        n, m_eq = data.P.shape[0], data.n_eq
        eye = sp.eye(n, format="csc")
        self.P = sp.triu(data.P).tocsc()
        self.q = data.q
        self.Acl = sp.vstack([data.A[:m_eq], eye, -eye]).tocsc()
        self.cones = [clarabel.ZeroConeT(m_eq), clarabel.NonnegativeConeT(2 * n)]
        s = clarabel.DefaultSettings()
        s.verbose = False
        s.tol_gap_abs = s.tol_gap_rel = s.tol_feas = tol
        self.settings, self.m_eq, self.n = s, m_eq, n

    def reset(self, x0: np.ndarray) -> None:
        self.plans = np.zeros((len(x0), self.n))

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import clarabel

        data = self.family.qp(np.asarray(x, dtype=float), check_domain=False)
        fam, n, m = self.family, self.n, self.m_eq
        u = np.zeros((len(x), fam.nu))
        dt, failed = np.zeros(len(x)), np.zeros(len(x), dtype=bool)
        for i in range(len(x)):
            t0 = time.perf_counter()
            b = np.concatenate([data.l[i, :m], data.u[i, m:m + n], -data.l[i, m:m + n]])
            sol = clarabel.DefaultSolver(self.P, self.q, self.Acl, b, self.cones, self.settings).solve()
            ok = str(sol.status).endswith("Solved") and "Almost" not in str(sol.status)
            # as OSQPController: a failed step applies the shifted previous plan's first input
            self.plans[i] = np.asarray(sol.x) if ok else _shift(self.plans[i], fam)
            u[i] = np.clip(self.plans[i][:fam.nu], fam.u_min, fam.u_max)
            dt[i] = time.perf_counter() - t0
            failed[i] = not ok
        return u, dt, failed


# ------------------------------------------------------------------------------------------ simulation


@dataclass
class ClosedLoop:
    """Trajectories of one controller from a batch of initial states.

    ``x`` (batch, T+1, nx), ``u`` (batch, T, nu), ``seconds`` (batch, T): the controller's time per step
    and system, ``failed`` (batch, T): a solver failure or an empty safe interval at that step.
    """

    name: str
    x: np.ndarray
    u: np.ndarray
    seconds: np.ndarray
    failed: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.u.shape[1]

    def cost(self, family: Any) -> np.ndarray:
        """Σ_t x_tᵀQx_t + u_tᵀRu_t over the run plus x_TᵀPx_T: the closed-loop cost per run."""
        Q, R, P = (np.asarray(m, dtype=float) for m in (family.Q, family.R, family.P))
        xs, xT = self.x[:, :-1], self.x[:, -1]
        stage = np.einsum("btj,jk,btk->b", xs, Q, xs) + np.einsum("btj,jk,btk->b", self.u, R, self.u)
        return stage + np.einsum("bj,jk,bk->b", xT, P, xT)

    def state_violation(self, family: Any) -> np.ndarray:
        """Worst violation of the state box over the run (x₁ … x_T), per run; 0 when it holds."""
        v = np.maximum(self.x[:, 1:] - family.x_max, family.x_min - self.x[:, 1:])
        return np.nan_to_num(np.max(np.maximum(v, 0.0), axis=(1, 2)), nan=np.inf)

    def input_violation(self, family: Any) -> np.ndarray:
        """Worst violation of the input box over the run, per run."""
        v = np.maximum(self.u - family.u_max, family.u_min - self.u)
        return np.nan_to_num(np.max(np.maximum(v, 0.0), axis=(1, 2)), nan=np.inf)

    def reached(self, radius: float) -> np.ndarray:
        """The final state lies in the target set ‖x_T‖_∞ ≤ radius."""
        return np.max(np.abs(self.x[:, -1]), axis=1) <= radius

    def diverged(self, bound: float = 1e3) -> np.ndarray:
        """The state left ‖x‖_∞ ≤ bound (or became non-finite) at some step."""
        big = ~np.isfinite(self.x) | (np.abs(self.x) > bound)
        return np.any(big, axis=(1, 2))


def simulate(controller: Controller, x0: np.ndarray, steps: int, family: Any, *,
             plant: tuple[np.ndarray, np.ndarray] | None = None) -> ClosedLoop:
    """Run ``controller`` in closed loop for ``steps`` instants from each row of ``x0`` (batch, nx).

    The plant is x_{t+1} = A x_t + B u_t with the family's (A, B), or ``plant = (A_true, B_true)`` for a
    model mismatch: the controller keeps using the model, the states evolve with the plant.
    """
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim != 2 or x0.shape[1] != family.nx:
        raise ValueError(f"simulate: x0 must have shape (batch, {family.nx}), got {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError("simulate: x0 has NaN or inf")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"simulate: steps must be a positive integer, got {steps!r}")
    A, B = (np.asarray(family.A, dtype=float), np.asarray(family.B, dtype=float)) if plant is None else (
        np.asarray(plant[0], dtype=float), np.asarray(plant[1], dtype=float))
    if A.shape != (family.nx, family.nx) or B.shape != (family.nx, family.nu):
        raise ValueError(f"simulate: plant matrices must be {(family.nx, family.nx)} and {(family.nx, family.nu)}")
    n = len(x0)
    xs = np.zeros((n, steps + 1, family.nx))
    us = np.zeros((n, steps, family.nu))
    secs, failed = np.zeros((n, steps)), np.zeros((n, steps), dtype=bool)
    xs[:, 0] = x0
    controller.reset(x0)
    for t in range(steps):
        u, dt, bad = controller.step(xs[:, t].copy())
        us[:, t], secs[:, t], failed[:, t] = u, dt, bad
        with np.errstate(over="ignore", invalid="ignore"):
            xs[:, t + 1] = xs[:, t] @ A.T + u @ B.T
    return ClosedLoop(controller.name, xs, us, secs, failed)


# ------------------------------------------------------------------------------------------ the table


@dataclass
class ClosedLoopRow:
    """One controller's closed-loop figures (runs from the same initial states as the reference)."""

    controller: str
    runs: int
    cost_mean: float          # mean over runs of 100 (J − J_ref) / J_ref, %
    cost_worst: float         # worst run, %
    cost_within_1pct: float   # share of runs with J ≤ 1.01 J_ref
    violation_share: float    # share of runs with a state or input violation > tol
    state_violation_max: float
    input_violation_max: float
    reached: float            # share with the final state in the target set
    diverged: float
    failed_steps: int         # steps at which a solver failed or a safe interval was empty
    step_mean: float          # seconds per step and system
    step_worst: float
    step_mean_ratio: float    # timing reference / this controller (> 1: faster than the reference)
    step_worst_ratio: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ClosedLoopTable:
    """The chapter's closed-loop results table."""

    rows: list[ClosedLoopRow]
    reference: str
    timing_reference: str
    title: str = ""
    target_radius: float = 0.1

    def __getitem__(self, name: str) -> ClosedLoopRow:
        for r in self.rows:
            if r.controller == name:
                return r
        raise KeyError(f"no controller {name!r} in the table; have {[r.controller for r in self.rows]}")

    def to_markdown(self) -> str:
        head = ("| controller | cost vs exact MPC % (mean / worst) | runs within 1 % | runs violating "
                "| worst state / input violation | reach target | time per step µs (mean / worst) "
                "| speed-up (mean / worst) |")
        lines = [f"**{self.title}**" if self.title else "", "", head, "|" + "---|" * 8]
        for r in self.rows:
            lines.append(
                f"| {r.controller} | {r.cost_mean:+.3f} / {r.cost_worst:+.2f} | {100 * r.cost_within_1pct:.1f} % "
                f"| {100 * r.violation_share:.1f} % | {_g(r.state_violation_max)} / {_g(r.input_violation_max)} "
                f"| {100 * r.reached:.1f} % | {1e6 * r.step_mean:.2f} / {1e6 * r.step_worst:.1f} "
                f"| {r.step_mean_ratio:.1f}× / {r.step_worst_ratio:.1f}× |")
        lines.append("")
        lines.append(f"Cost relative to {self.reference}, per run; target set ‖x_T‖∞ ≤ {self.target_radius:g}; "
                     f"times per system and step; speed-up: {self.timing_reference}'s time over the "
                     "controller's, in the same run.")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()


def _g(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}"


def closed_loop_table(runs: Sequence[ClosedLoop], family: Any, *, reference: str, timing_reference: str,
                      target_radius: float = 0.1, tol: float = 1e-6, title: str = "") -> ClosedLoopTable:
    """Score controllers run from the same initial states against a reference controller's cost and time."""
    by_name = {r.name: r for r in runs}
    for key in (reference, timing_reference):
        if key not in by_name:
            raise KeyError(f"closed_loop_table: no run named {key!r}; have {sorted(by_name)}")
    ref, timing = by_name[reference], by_name[timing_reference]
    if any(r.x.shape != ref.x.shape or not np.allclose(r.x[:, 0], ref.x[:, 0]) for r in runs):
        raise ValueError("closed_loop_table: every run must start from the same initial states with the same steps")
    j_ref = ref.cost(family)
    t_mean, t_worst = float(timing.seconds.mean()), float(timing.seconds.max())
    rows = []
    for r in runs:
        rel = 100.0 * (r.cost(family) - j_ref) / j_ref
        sv, iv = r.state_violation(family), r.input_violation(family)
        rows.append(ClosedLoopRow(
            controller=r.name, runs=len(rel), cost_mean=float(np.mean(rel)), cost_worst=float(np.max(rel)),
            cost_within_1pct=float(np.mean(rel <= 1.0)), violation_share=float(np.mean((sv > tol) | (iv > tol))),
            state_violation_max=float(sv.max()), input_violation_max=float(iv.max()),
            reached=float(np.mean(r.reached(target_radius))), diverged=float(np.mean(r.diverged())),
            failed_steps=int(r.failed.sum()), step_mean=float(r.seconds.mean()), step_worst=float(r.seconds.max()),
            step_mean_ratio=t_mean / float(r.seconds.mean()), step_worst_ratio=t_worst / float(r.seconds.max())))
    return ClosedLoopTable(rows, reference, timing_reference, title, target_radius)


def latency(controller: Controller, x0: np.ndarray, steps: int, family: Any) -> np.ndarray:
    """Seconds per step when the controller runs one system at a time (no batching), per step of every run."""
    out = []
    for x in np.asarray(x0, dtype=float):
        out.append(simulate(controller, x[None, :], steps, family).seconds[0])
    return np.concatenate(out)


# ------------------------------------------------------------------------------------------ scorecard rows

_CONTROL_CAPABILITIES = ("A", "B", "Q", "R", "P", "horizon", "first_input", "qp", "x_min", "x_max", "u_min", "u_max")


def closed_loop_scorecard(names: Sequence[str] | None = None, *, n: int = 100, seed: int = 20261128, steps: int = 40,
                          target_radius: float = 0.1) -> list[ClosedLoopTable]:
    """Closed-loop rows for the shipped models whose family is a linear MPC problem (one table per family).

    Each model's ``predict`` gives a plan; its first input is simulated in closed loop, alone and behind the
    safety filter of the family's control invariant set, from ``n`` initial states drawn from that set with
    ``seed``, against exact MPC by warm-started OSQP (the cost and timing reference).
    """
    from l2o_lib import pretrained

    groups: dict[tuple[str, str], list[Any]] = {}
    for name in names if names is not None else pretrained.available():
        model = pretrained.load(name)
        fam = model.problem
        if all(hasattr(fam, cap) for cap in _CONTROL_CAPABILITIES) and fam.nx == 2 and fam.nu == 1:
            groups.setdefault(fam.identity, []).append(model)
        elif names is not None:
            raise ValueError(f"closed_loop_scorecard: {name}'s family {fam.name} is not a linear MPC problem "
                             "with two states and one input")
    tables = []
    for models in groups.values():
        fam = models[0].problem
        safe, _ = control_invariant_set(fam.A, fam.B, fam.x_min, fam.x_max, fam.u_min, fam.u_max)
        x0 = safe.sample(n, seed=seed)
        ref = simulate(OSQPController(fam), x0, steps, fam)
        runs = [ref]
        for m in models:
            def first(x: np.ndarray, m: Any = m, fam: Any = fam) -> np.ndarray:
                return fam.first_input(m.predict(x, check_domain=False))
            runs.append(simulate(PolicyController(m.name, first), x0, steps, fam))
            runs.append(simulate(SafetyFilter(f"{m.name} + safety filter", first, safe, fam), x0, steps, fam))
        tables.append(closed_loop_table(runs, fam, reference=ref.name, timing_reference=ref.name,
                                        target_radius=target_radius,
                                        title=f"closed loop on {fam.name}: {n} initial states x {steps} steps"))
    return tables
