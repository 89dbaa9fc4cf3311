"""Learned and explicit policies in the loop: a policy u = π(x), a safety filter around it, and the safe hybrid
built on chapter 8's certified active set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from l2o_lib.control.invariant import Polytope, safe_input_interval
from l2o_lib.control.simulate import check_states
from l2o_lib.enhance.certified import CertifiedSolver
from l2o_lib.problems.capabilities import LinearMPCForm, require


def _into_path(policy: Any) -> Callable[[np.ndarray, np.ndarray], None] | None:
    """The policy's allocation-free row forward (``policy.into(x, out)``, a :class:`~l2o_lib.compiled.CompiledMLP`'s)."""
    into = getattr(policy, "into", None)
    return into if callable(into) else None


def _check_policy(owner: str, policy: Any) -> None:
    if not callable(policy):
        raise TypeError(f"{owner}: the policy must be callable on a batch of states, got {type(policy).__name__}")


def _policy_inputs(owner: str, policy: Any, x: np.ndarray, nu: int) -> np.ndarray:
    """The policy's inputs for a batch, checked for shape (NaN is left for the caller to judge)."""
    u = np.asarray(policy(x), dtype=float)
    if u.shape not in ((len(x), nu), (len(x),) if nu == 1 else ()):
        raise ValueError(f"{owner}: the policy returned shape {u.shape} for {len(x)} states; expected ({len(x)}, {nu})")
    return u.reshape(len(x), nu)


def _warm_up(owner: str, policy: Any, into: Any, x0: np.ndarray, nu: int | None = None) -> np.ndarray:
    """Call a policy once on the first state (a first call is slow) and return the one-row output buffer
    that ``into`` (its compiled path, if any) then writes into; ``nu`` None takes the width the policy gives."""
    x0 = np.asarray(x0[:1], dtype=float)
    first = np.asarray(policy(x0), dtype=float).reshape(1, -1) if nu is None else _policy_inputs(owner, policy, x0, nu)
    u = np.empty_like(first)
    if into is not None:
        into(x0, u)
    return u


class PolicyController:
    """An explicit policy u = π(x): a batch in one call (time per system = batch time / batch), one system
    through ``policy.into`` when the policy has it (a :class:`~l2o_lib.compiled.CompiledMLP`'s compiled path).

    A non-finite input is applied as it is (the closed loop shows the damage) and the step is flagged.
    """

    def __init__(self, name: str, policy: Callable[[np.ndarray], np.ndarray]):
        _check_policy("PolicyController", policy)
        self.name, self.policy, self.into = name, policy, _into_path(policy)

    def reset(self, x0: np.ndarray) -> None:
        self._u = _warm_up(self.name, self.policy, self.into, x0)
        self.nu = self._u.shape[1]

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(x) == 1 and self.into is not None:
            t0 = time.perf_counter()
            self.into(x, self._u)
            dt = time.perf_counter() - t0
            u = self._u.copy()
        else:
            t0 = time.perf_counter()
            u = _policy_inputs(self.name, self.policy, x, self.nu)
            dt = (time.perf_counter() - t0) / len(x)
        return u, np.full(len(x), dt), ~np.isfinite(u).all(axis=1)


#: the safety filter's verdicts per state (the compiled kernel's codes)
FILTER_OK, FILTER_EMPTY, FILTER_BAD_STATE, FILTER_BAD_INPUT = 0, 1, 2, 3


class SafetyFilter:
    """A policy whose input is clipped, at run time, to the inputs that keep the next state in a safe set.

    With ``safe`` control invariant, every state in it has a non-empty interval, so the closed loop never
    leaves it and never violates a state or input bound, whatever the policy proposes — a non-finite proposal
    included: it is replaced by the admissible input nearest zero and the step is flagged. A state outside the
    set (empty interval) gets the least violating input instead, and is flagged. A non-finite state raises.
    ``model = (A, B)`` predicts the next state with other matrices than the family's (e.g. those of the plant,
    with ``safe`` computed for them). One system (a batch of one) goes through ``policy.into`` when the policy
    has it and a compiled filter.
    """

    def __init__(self, name: str, policy: Callable[[np.ndarray], np.ndarray] | None, safe: Polytope, family: LinearMPCForm, *,
                 model: tuple[np.ndarray, np.ndarray] | None = None):
        require(family, LinearMPCForm, "SafetyFilter")
        if family.nu != 1 or family.nx != 2:
            raise ValueError(f"SafetyFilter: needs two states and one input, the family has {family.nx} and {family.nu}")
        if policy is not None:
            _check_policy("SafetyFilter", policy)
        if not isinstance(safe, Polytope):
            raise TypeError(f"SafetyFilter: safe must be a Polytope, got {type(safe).__name__}")
        self.name, self.policy, self.safe, self.family = name, policy, safe, family
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
        self._kernel = _filter_kernel()

    # aim a hair inside the set: riding its boundary exactly, rounding errors grow with the unstable mode
    MARGIN = 1e-7

    def filter(self, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The filtered inputs and a flag for the states whose safe interval is empty or whose proposal was not
        finite."""
        x = check_states(x, self.family, f"{self.name}.filter")
        u = np.asarray(u, dtype=float).reshape(len(x), -1)
        if u.shape != (len(x), 1):
            raise ValueError(f"{self.name}.filter: u must have shape ({len(x)}, 1), got {np.shape(u)}")
        lo, hi = safe_input_interval(x, self.safe, self.A, self.B, self.u_min, self.u_max, margin=self.MARGIN)
        empty = lo > hi
        # an empty interval: the input where the two sides cross is the least violating one
        mid = np.clip(0.5 * (lo + hi), self.u_min, self.u_max)
        lo, hi = np.where(empty, mid, lo), np.where(empty, mid, hi)
        bad = ~np.isfinite(u[:, 0])
        proposal = np.where(bad, 0.0, u[:, 0])
        return np.clip(proposal, lo, hi)[:, None], empty | bad

    def filter_one(self, x: np.ndarray, u: float) -> tuple[float, bool]:
        """:meth:`filter` for one state (2,) and one input, compiled (the same arithmetic, no batch)."""
        x = np.asarray(x, dtype=float)
        if x.shape != (2,):
            raise ValueError(f"{self.name}.filter_one: x must have shape (2,), got {x.shape}")
        out, code = self._kernel(x, float(u), self._HA, self._coef, self._hm, self.u_min, self.u_max)
        if code == FILTER_BAD_STATE:
            raise ValueError(f"{self.name}.filter_one: the state {x} is not finite")
        return out, code != FILTER_OK

    def reset(self, x0: np.ndarray) -> None:
        x0 = check_states(x0, self.family, f"{self.name}.reset")
        if self.policy is not None:
            self._u = _warm_up(self.name, self.policy, self.into, x0, 1)
        self.filter_one(x0[0], 0.0)

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.policy is None:
            raise TypeError("SafetyFilter.step: built without a policy (use filter / filter_one)")
        if len(x) == 1 and self.into is not None:
            t0 = time.perf_counter()
            self.into(x, self._u)
            u, flagged = self.filter_one(x[0], float(self._u[0, 0]))
            dt = time.perf_counter() - t0
            return np.array([[u]]), np.array([dt]), np.array([flagged])
        t0 = time.perf_counter()
        u, flagged = self.filter(x, _policy_inputs(self.name, self.policy, x, 1))
        dt = (time.perf_counter() - t0) / len(x)
        return u, np.full(len(x), dt), flagged


class CertifiedHybrid:
    """The safe hybrid on chapter 8's certified active set: certified plan → first input → safety filter.

    ``solver`` (a :class:`~l2o_lib.enhance.CertifiedSolver` over the family's strategies) tests the top-scoring
    strategies' regions in turn (the region test *is* the KKT check: the first that passes gives the exact MPC
    plan); if none passes, DAQP solves the QP warm-started from the best one's active set and its answer is applied
    (DAQP's own status decides; the KKT certificate of it is the batch result's ``status``). A batch goes through
    ``solver.solve``, one system through ``solver.solve_one`` (compiled), so the worst step is one DAQP call.
    Every input finally passes the :class:`SafetyFilter` of ``safe``: safety never depends on the certificate.
    ``stages`` records per step and system 0 … top_k−1 (that candidate was certified) or top_k (DAQP); a step
    where DAQP fails too applies the filtered zero input and is flagged.
    """

    def __init__(self, name: str, solver: CertifiedSolver, safe: Polytope, family: LinearMPCForm):
        require(family, LinearMPCForm, "CertifiedHybrid")
        if not isinstance(solver, CertifiedSolver):
            raise TypeError(f"CertifiedHybrid: solver must be a CertifiedSolver, got {type(solver).__name__}")
        if solver.laws.family.identity != family.identity:
            raise ValueError(f"CertifiedHybrid: the solver's laws belong to {solver.laws.family!r}, not to the family "
                             f"given, {family!r} (its dynamics, weights or bounds differ)")
        self.name, self.solver, self.family = name, solver, family
        self.top_k = solver.top_k
        self.filter = SafetyFilter(name, None, safe, family)
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
        x0 = check_states(x0, self.family, f"{self.name}.reset")
        # every path's first call (a compiled kernel loaded from disk, DAQP's workspace) before any step is timed
        self.solver.warm_up(x0[:1])
        self.filter.filter_one(x0[0], 0.0)
        self.stages = []

    def _step_one(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        xi = x[0]
        plan, stage, _ = self.solver.solve_one(xi, check=False)
        failed = not np.isfinite(plan[0])
        u, flagged = self.filter.filter_one(xi, 0.0 if failed else float(plan[0]))
        dt = time.perf_counter() - t0
        self.stages.append(np.array([stage]))
        return np.array([[u]]), np.array([dt]), np.array([flagged or failed])

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(x) == 1:
            return self._step_one(x)
        nu = self.family.nu
        t0 = time.perf_counter()
        res = self.solver.solve(x, duals=False)
        u0 = res.x[:, :nu]
        bad = ~np.isfinite(u0).all(axis=1)  # DAQP failed too
        u, flagged = self.filter.filter(x, np.where(bad[:, None], 0.0, u0))
        dt = (time.perf_counter() - t0) / len(x)
        self.stages.append(np.asarray(res.stage))
        return u, np.full(len(x), dt), flagged | bad


@cache
def _filter_kernel() -> Any:
    """The safety filter for one state, numba-compiled: (input, verdict code)."""
    import numba

    @numba.njit(cache=True)
    def filter_one(x, u, HA, coef, hm, u_min, u_max):  # pragma: no cover - compiled
        if not (np.isfinite(x[0]) and np.isfinite(x[1])):
            return np.nan, 2
        code = 0
        if not np.isfinite(u):
            u, code = 0.0, 3
        lo, hi = -np.inf, np.inf
        for i in range(coef.shape[0]):
            slack = hm[i] - (HA[i, 0] * x[0] + HA[i, 1] * x[1])
            if coef[i] > 0:
                hi = min(hi, slack / coef[i])
            elif coef[i] < 0:
                lo = max(lo, slack / coef[i])
        lo, hi = max(lo, u_min), min(hi, u_max)
        if lo > hi:
            lo = hi = min(max(0.5 * (lo + hi), u_min), u_max)
            code = 1
        return min(max(u, lo), hi), code

    return filter_one
