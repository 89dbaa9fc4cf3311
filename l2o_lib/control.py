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
from functools import cache
from typing import Any, Protocol

import numpy as np

from l2o_lib.enhance import active_sets, certified_solve
from l2o_lib.solvers import DAQPSession

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


def _one_path(policy: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """The policy's one-vector forward (``policy.one``, e.g. a :class:`~l2o_lib.compiled.CompiledMLP`), if any."""
    one = getattr(policy, "one", None)
    return one if callable(one) else None


def _into_path(policy: Any) -> Callable[[np.ndarray, np.ndarray], None] | None:
    """The policy's allocation-free row forward (``policy.into(x, out)``, a :class:`~l2o_lib.compiled.CompiledMLP`'s)."""
    into = getattr(policy, "into", None)
    return into if callable(into) else None


def _check_policy(owner: str, policy: Any) -> None:
    if not callable(policy):
        raise TypeError(f"{owner}: the policy must be callable on a batch of states, got {type(policy).__name__}")


def _warm_up(policy: Any, into: Any, x0: np.ndarray) -> np.ndarray:
    """Call a policy once on the first state (a first call is slow) and return the one-row output buffer
    that ``into`` (its compiled path, if any) then writes into."""
    x0 = np.asarray(x0[:1], dtype=float)
    u = np.empty_like(np.asarray(policy(x0), dtype=float).reshape(1, -1))
    if into is not None:
        into(x0, u)
    return u


class PolicyController:
    """An explicit policy u = π(x): a batch in one call (time per system = batch time / batch), one system
    through ``policy.into`` when the policy has it (a :class:`~l2o_lib.compiled.CompiledMLP`'s compiled path)."""

    def __init__(self, name: str, policy: Callable[[np.ndarray], np.ndarray]):
        _check_policy("PolicyController", policy)
        self.name, self.policy, self.into = name, policy, _into_path(policy)

    def reset(self, x0: np.ndarray) -> None:
        self._u = _warm_up(self.policy, self.into, x0)

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(x) == 1 and self.into is not None:
            t0 = time.perf_counter()
            self.into(x, self._u)
            dt = time.perf_counter() - t0
            u = self._u.copy()
        else:
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
    One system (a batch of one) goes through ``policy.into`` when the policy has it and a compiled filter.
    """

    def __init__(self, name: str, policy: Callable[[np.ndarray], np.ndarray] | None, safe: Polytope, family: Any, *,
                 model: tuple[np.ndarray, np.ndarray] | None = None):
        if family.nu != 1:
            raise ValueError(f"SafetyFilter: needs one input, the family has {family.nu}")
        if policy is not None:
            _check_policy("SafetyFilter", policy)
        self.name, self.policy, self.safe = name, policy, safe
        self.into = _into_path(policy)
        A, B = (family.A, family.B) if model is None else model
        self.A, self.B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
        if self.A.shape != (2, 2) or self.B.shape != (2, 1):
            raise ValueError(f"SafetyFilter: model matrices must be (2, 2) and (2, 1), got {self.A.shape}, {self.B.shape}")
        self.u_min, self.u_max = float(family.u_min[0]), float(family.u_max[0])
        # the interval's data for the compiled one-system path: H(Ax + Bu) ≤ h − margin‖H_i‖
        self._HA = np.ascontiguousarray(safe.H @ self.A)
        self._coef = np.ascontiguousarray((safe.H @ self.B)[:, 0])
        self._hm = np.ascontiguousarray(safe.h - self.MARGIN * np.linalg.norm(safe.H, axis=1))

    # aim a hair inside the set: riding its boundary exactly, rounding errors grow with the unstable mode
    MARGIN = 1e-7

    def filter(self, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The filtered inputs and a flag for the states whose safe interval is empty."""
        lo, hi = safe_input_interval(x, self.safe, self.A, self.B, self.u_min, self.u_max, margin=self.MARGIN)
        empty = lo > hi
        # an empty interval: the input where the two sides cross is the least violating one
        mid = np.clip(0.5 * (lo + hi), self.u_min, self.u_max)
        lo, hi = np.where(empty, mid, lo), np.where(empty, mid, hi)
        return np.clip(u[:, 0], lo, hi)[:, None], empty

    def filter_one(self, x: np.ndarray, u: float) -> tuple[float, bool]:
        """:meth:`filter` for one state (nx,) and one input, compiled (the same arithmetic, no batch)."""
        kernel = _filter_kernel()
        if kernel is None:
            out, empty = self.filter(np.asarray(x, dtype=float)[None, :], np.array([[u]], dtype=float))
            return float(out[0, 0]), bool(empty[0])
        return kernel(x, float(u), self._HA, self._coef, self._hm, self.u_min, self.u_max)

    def reset(self, x0: np.ndarray) -> None:
        if self.policy is not None:
            self._u = _warm_up(self.policy, self.into, x0)
        self.filter_one(np.asarray(x0[0], dtype=float), 0.0)

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.policy is None:
            raise TypeError("SafetyFilter.step: built without a policy (use filter / filter_one)")
        if len(x) == 1 and self.into is not None:
            t0 = time.perf_counter()
            self.into(x, self._u)
            u, empty = self.filter_one(x[0], float(self._u[0, 0]))
            dt = time.perf_counter() - t0
            return np.array([[u]]), np.array([dt]), np.array([empty])
        t0 = time.perf_counter()
        u, empty = self.filter(x, np.asarray(self.policy(x), dtype=float).reshape(len(x), -1))
        dt = (time.perf_counter() - t0) / len(x)
        return u, np.full(len(x), dt), empty


class CertifiedHybrid:
    """The safe hybrid on chapter 8's certified active set: scores → certified plan → first input → filter.

    ``laws`` (:class:`~l2o_lib.enhance.ActiveSetLaws`) are the strategies' exact affine laws and critical
    regions, ``scores`` a classifier ξ = x ↦ one score per strategy (a
    :class:`~l2o_lib.compiled.CompiledMLP`, or any batch callable with optionally ``.one``). At each step the
    ``top_k`` best-scoring strategies are tested in turn (the region test *is* the KKT check: the first that
    passes gives the exact MPC plan); if none passes, DAQP solves the QP warm-started from the best one's
    active set. A batch goes through :func:`~l2o_lib.enhance.certified_solve`; one system through a compiled
    path (the classifier's ``.one``, the region tests of the candidates on one row, DAQP on failure), so its
    worst step is one DAQP call. Every input finally passes the :class:`SafetyFilter` of ``safe``: safety
    never depends on the certificate. ``stages`` records per step and system 0 … top_k−1 (that candidate
    was certified) or top_k (DAQP); a step where DAQP fails too applies the filtered zero input and is flagged.
    """

    def __init__(self, name: str, laws: Any, scores: Callable[[np.ndarray], np.ndarray], safe: Polytope,
                 family: Any, *, top_k: int = 3):
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"CertifiedHybrid: top_k must be a positive integer, got {top_k!r}")
        if laws.family.nx != family.nx or laws.n != family.n_vars:
            raise ValueError("CertifiedHybrid: the laws belong to another problem family (sizes differ)")
        _check_policy("CertifiedHybrid", scores)
        self.name, self.laws, self.scores, self.family = name, laws, scores, family
        self.top_k = min(int(top_k), len(laws))
        self.one = _one_path(scores)
        self.filter = SafetyFilter(name, None, safe, family)
        self.session = laws.fallback_solver()
        self.stages: list[np.ndarray] = []

    @property
    def certified_share(self) -> float:
        """Share of the steps so far answered by a certified candidate (no DAQP call)."""
        return float(np.mean(np.concatenate(self.stages) < self.top_k)) if self.stages else float("nan")

    @property
    def fallbacks(self) -> int:
        """Steps so far that called DAQP."""
        return int(sum(np.sum(s == self.top_k) for s in self.stages))

    def reset(self, x0: np.ndarray) -> None:
        x0 = np.asarray(x0[:1], dtype=float)
        # every path's first call (a compiled kernel loaded from disk, DAQP's workspace) before any step is timed
        sc = self.scores(x0)
        if self.one is not None:
            self.one(x0[0])
        certified_solve(self.laws, sc, x0, top_k=self.top_k, duals=False)
        self.laws.certify_one(np.asarray(sc, dtype=float)[0], x0[0], top_k=self.top_k)
        self.session.solve(x0)
        self.filter.filter_one(x0[0], 0.0)
        self.stages = []

    def _step_one(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        xi = x[0]
        s, best, stage, plan = self.laws.certify_one(self.one(xi), xi, top_k=self.top_k)
        failed = False
        if s < 0:
            res = self.session.solve(x, active=self.laws.strategies[best][None, :])
            failed = not bool(res.ok[0])
            plan = res.x[0]
        u, empty = self.filter.filter_one(xi, 0.0 if failed else float(plan[0]))
        dt = time.perf_counter() - t0
        self.stages.append(np.array([stage]))
        return np.array([[u]]), np.array([dt]), np.array([empty or failed])

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(x) == 1 and self.one is not None:
            return self._step_one(x)
        nu = self.family.nu
        t0 = time.perf_counter()
        res = certified_solve(self.laws, self.scores(x), x, top_k=self.top_k, duals=False)
        u0 = res.x[:, :nu]
        bad = ~np.isfinite(u0).all(axis=1)
        u, empty = self.filter.filter(x, np.where(bad[:, None], 0.0, u0))
        dt = (time.perf_counter() - t0) / len(x)
        self.stages.append(np.asarray(res.stage))
        return u, np.full(len(x), dt), empty | bad


class DAQPController:
    """Exact MPC by DAQP (:class:`~l2o_lib.solvers.DAQPSession`, an active-set solver on the condensed QP).

    With ``warm=True`` each solve starts from the active set of the system's previous plan shifted by one step.
    Where DAQP reports no solution the step is flagged and the shifted previous plan's first input is applied.
    """

    def __init__(self, family: Any, *, warm: bool = True, name: str | None = None):
        self.family, self.warm = family, warm
        self.name = name or f"exact MPC (DAQP, {'warm' if warm else 'cold'} start)"
        self.session = DAQPSession(family)
        qp = family.qp()
        self._bounds = (qp.l[0, qp.n_eq:], qp.u[0, qp.n_eq:])

    def reset(self, x0: np.ndarray) -> None:
        self.plans = np.zeros((len(x0), self.family.n_vars))
        self.have = np.zeros(len(x0), dtype=bool)
        self.iterations: list[np.ndarray] = []

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fam = self.family
        t0 = time.perf_counter()
        shifted = np.array([_shift(p, fam) for p in self.plans])
        active = None
        if self.warm and self.have.any():
            active = active_sets(fam, shifted, bounds=self._bounds)
            active[~self.have] = 0
        t_prep = (time.perf_counter() - t0) / len(x) if self.warm else 0.0  # the warm start's preparation
        res = self.session.solve(x, active=active)
        ok = res.ok
        self.iterations.append(res.iterations)
        fallback = np.clip(shifted[:, :fam.nu], fam.u_min, fam.u_max)
        u = np.where(ok[:, None], np.nan_to_num(res.x[:, :fam.nu]), fallback)
        self.plans = np.where(ok[:, None], res.x, shifted)
        self.have |= ok
        return u, res.wall_time + t_prep, ~ok


@cache
def _filter_kernel() -> Any:
    """The safety filter for one state, numba-compiled (None without numba)."""
    try:
        import numba
    except ImportError:  # the batched numpy paths still work
        return None

    @numba.njit(cache=True)
    def filter_one(x, u, HA, coef, hm, u_min, u_max):  # pragma: no cover - compiled
        lo, hi = -np.inf, np.inf
        for i in range(coef.shape[0]):
            slack = hm[i] - (HA[i, 0] * x[0] + HA[i, 1] * x[1])
            if coef[i] > 0:
                hi = min(hi, slack / coef[i])
            elif coef[i] < 0:
                lo = max(lo, slack / coef[i])
        lo, hi = max(lo, u_min), min(hi, u_max)
        empty = lo > hi
        if empty:
            lo = hi = min(max(0.5 * (lo + hi), u_min), u_max)
        return min(max(u, lo), hi), empty

    return filter_one


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
        shifted = np.array([_shift(p, fam) for p in self.plans])
        y0 = np.array([_shift_dual(d, fam) for d in self.duals]) if warm else None
        res = self.session.solve(x, x0=shifted if warm else None, y0=y0, check_domain=False)
        self.iterations.append(res.iters)
        ok = res.ok
        fallback = np.clip(shifted[:, :fam.nu], fam.u_min, fam.u_max)
        u = np.where(ok[:, None], np.nan_to_num(res.x[:, :fam.nu]), fallback)
        self.plans = np.where(ok[:, None], res.x, shifted)
        self.duals[ok] = res.y[ok]
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
