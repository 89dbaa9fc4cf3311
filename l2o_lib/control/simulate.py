"""Closed-loop simulation of batched controllers on a linear plant.

A controller maps the measured states of a batch of independent systems to their inputs, one sampling instant
at a time, and reports the time it spent per system. :func:`simulate` runs it in closed loop on
x_{t+1} = A x_t + B u_t (the model, or a perturbed plant) from a batch of initial states, and returns a
:class:`ClosedLoop`: the trajectories, the inputs, the time per step and system, and the steps at which a solver
failed or a safe interval was empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from l2o_lib.problems.capabilities import LinearMPCForm, require


class Controller(Protocol):
    """What :func:`simulate` drives: ``reset`` with the initial states, then ``step`` once per instant."""

    name: str

    def reset(self, x0: np.ndarray) -> None: ...

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs (batch, nu), seconds spent per system (batch,), and a per-system failure flag (batch,)."""
        ...


def check_states(x: Any, family: LinearMPCForm, owner: str, what: str = "states") -> np.ndarray:
    """States as a float array (batch ≥ 1, nx), finite; ``ValueError`` naming ``owner`` and ``what`` otherwise."""
    try:
        x = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {what} must be a numeric array (batch, {family.nx})") from None
    if x.ndim != 2 or x.shape[1] != family.nx or len(x) == 0:
        raise ValueError(f"{owner}: {what} must have shape (batch ≥ 1, {family.nx}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x).all(1))[:5].tolist()
        raise ValueError(f"{owner}: NaN or inf in {what}, row(s) {bad}")
    return x


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

    def cost(self, family: LinearMPCForm) -> np.ndarray:
        """Σ_t x_tᵀQx_t + u_tᵀRu_t over the run plus x_TᵀPx_T: the closed-loop cost per run."""
        return family.stage_cost(self.x[:, :-1], self.u).sum(axis=1) + family.terminal_cost(self.x[:, -1])

    def state_violation(self, family: LinearMPCForm) -> np.ndarray:
        """Worst violation of the state box over the run (x₁ … x_T), per run; 0 when it holds."""
        v = np.maximum(self.x[:, 1:] - family.x_max, family.x_min - self.x[:, 1:])
        return np.nan_to_num(np.max(np.maximum(v, 0.0), axis=(1, 2)), nan=np.inf)

    def input_violation(self, family: LinearMPCForm) -> np.ndarray:
        """Worst violation of the input box over the run, per run."""
        v = np.maximum(self.u - family.u_max, family.u_min - self.u)
        return np.nan_to_num(np.max(np.maximum(v, 0.0), axis=(1, 2)), nan=np.inf)

    def violation(self, family: LinearMPCForm) -> np.ndarray:
        """Worst violation of either box over the run, per run."""
        return np.maximum(self.state_violation(family), self.input_violation(family))

    def reached(self, radius: float) -> np.ndarray:
        """The final state lies in the target set ‖x_T‖_∞ ≤ radius."""
        return np.max(np.abs(self.x[:, -1]), axis=1) <= radius

    def diverged(self, bound: float = 1e3) -> np.ndarray:
        """The state left ‖x‖_∞ ≤ bound (or became non-finite) at some step."""
        big = ~np.isfinite(self.x) | (np.abs(self.x) > bound)
        return np.any(big, axis=(1, 2))


def simulate(controller: Controller, x0: np.ndarray, steps: int, family: LinearMPCForm, *,
             plant: tuple[np.ndarray, np.ndarray] | None = None) -> ClosedLoop:
    """Run ``controller`` in closed loop for ``steps`` instants from each row of ``x0`` (batch, nx).

    The plant is x_{t+1} = A x_t + B u_t with the family's (A, B), or ``plant = (A_true, B_true)`` for a
    model mismatch: the controller keeps using the model, the states evolve with the plant.
    """
    require(family, LinearMPCForm, "simulate")
    x0 = check_states(x0, family, "simulate", "x0")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"simulate: steps must be a positive integer, got {steps!r}")
    if plant is not None:
        plant = (np.asarray(plant[0], dtype=float), np.asarray(plant[1], dtype=float))
        if plant[0].shape != (family.nx, family.nx) or plant[1].shape != (family.nx, family.nu):
            raise ValueError(f"simulate: plant matrices must be {(family.nx, family.nx)} and {(family.nx, family.nu)}")
    n = len(x0)
    xs = np.zeros((n, steps + 1, family.nx))
    us = np.zeros((n, steps, family.nu))
    secs, failed = np.zeros((n, steps)), np.zeros((n, steps), dtype=bool)
    xs[:, 0] = x0
    controller.reset(x0)
    for t in range(steps):
        u, dt, bad = controller.step(xs[:, t].copy())
        u = np.asarray(u, dtype=float)
        if u.shape != (n, family.nu) or np.shape(dt) != (n,) or np.shape(bad) != (n,):
            raise ValueError(f"simulate: {controller.name} returned inputs {u.shape}, times {np.shape(dt)} and flags "
                             f"{np.shape(bad)} for {n} systems; expected ({n}, {family.nu}), ({n},), ({n},)")
        us[:, t], secs[:, t], failed[:, t] = u, dt, bad
        with np.errstate(over="ignore", invalid="ignore"):
            xs[:, t + 1] = family.next_state(xs[:, t], u, plant)
    return ClosedLoop(controller.name, xs, us, secs, failed)


def latency(controller: Controller, x0: np.ndarray, steps: int, family: LinearMPCForm) -> np.ndarray:
    """Seconds per step when the controller runs one system at a time (no batching), per step of every run."""
    x0 = check_states(x0, family, "latency", "x0")
    return np.concatenate([simulate(controller, x[None, :], steps, family).seconds[0] for x in x0])
