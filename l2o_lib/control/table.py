"""The closed-loop results table: controllers run from the same initial states, scored against a reference.

Closed-loop cost relative to a reference controller (mean and worst), constraint violations, the share reaching
a target set, and the time per step relative to a timing reference measured in the same run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from l2o_lib.control.simulate import ClosedLoop
from l2o_lib.metrics import Table
from l2o_lib.problems.capabilities import LinearMPCForm


@dataclass
class ClosedLoopRow:
    """One controller's closed-loop figures (runs from the same initial states as the reference)."""

    controller: str
    runs: int
    cost_mean: float          # mean over runs of 100 (J − J_ref) / J_ref, %
    cost_worst: float         # worst run, %
    cost_within_1pct: float   # share of runs with J ≤ 1.01 J_ref
    violation_share: float    # share of runs with a state or input violation > tol
    state_violation_share: float
    input_violation_share: float
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
class ClosedLoopTable(Table):
    """The chapter's closed-loop results table."""

    rows: list[ClosedLoopRow] = field(default_factory=list)
    reference: str = ""
    timing_reference: str = ""
    target_radius: float = 0.1
    key: ClassVar[str] = "controller"

    def to_markdown(self) -> str:
        head = ("| controller | cost vs exact MPC % (mean / worst) | runs within 1 % | runs violating a state bound "
                "| runs violating an input bound | worst state / input violation | reach target "
                "| time per step µs (mean / worst) | speed-up (mean / worst) |")
        lines = [f"**{self.title}**" if self.title else "", "", head, "|" + "---|" * 9]
        for r in self.rows:
            lines.append(
                f"| {r.controller} | {r.cost_mean:+.3f} / {r.cost_worst:+.2f} | {100 * r.cost_within_1pct:.1f} % "
                f"| {100 * r.state_violation_share:.1f} % | {100 * r.input_violation_share:.1f} % "
                f"| {_g(r.state_violation_max)} / {_g(r.input_violation_max)} "
                f"| {100 * r.reached:.1f} % | {1e6 * r.step_mean:.2f} / {1e6 * r.step_worst:.1f} "
                f"| {r.step_mean_ratio:.1f}× / {r.step_worst_ratio:.1f}× |")
        lines.append("")
        lines.append(f"Cost relative to {self.reference}, per run; target set ‖x_T‖∞ ≤ {self.target_radius:g}; "
                     f"times per system and step; speed-up: {self.timing_reference}'s time over the "
                     "controller's, in the same run.")
        return "\n".join(lines)


def _g(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}"


def relative_cost(run: ClosedLoop, reference: ClosedLoop, family: LinearMPCForm) -> np.ndarray:
    """100 (J − J_ref) / J_ref per run, %; a run whose reference cost is 0 (it starts at the origin) scores 0 if its
    own cost is 0 too, +inf otherwise."""
    j, j_ref = run.cost(family), reference.cost(family)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = 100.0 * (j - j_ref) / j_ref
    return np.where(j_ref > 0, rel, np.where(j <= j_ref, 0.0, np.inf))


def closed_loop_table(runs: Sequence[ClosedLoop], family: LinearMPCForm, *, reference: str, timing_reference: str,
                      target_radius: float = 0.1, tol: float = 1e-6, title: str = "") -> ClosedLoopTable:
    """Score controllers run from the same initial states against a reference controller's cost and time."""
    names = Counter(r.name for r in runs)
    if dup := sorted(k for k, c in names.items() if c > 1):
        raise ValueError(f"closed_loop_table: two or more runs are named {dup}; give each controller its own name")
    by_name = {r.name: r for r in runs}
    for key in (reference, timing_reference):
        if key not in by_name:
            raise KeyError(f"closed_loop_table: no run named {key!r}; have {sorted(by_name)}")
    ref, timing = by_name[reference], by_name[timing_reference]
    if any(r.x.shape != ref.x.shape or not np.allclose(r.x[:, 0], ref.x[:, 0]) for r in runs):
        raise ValueError("closed_loop_table: every run must start from the same initial states with the same steps")
    t_mean, t_worst = float(timing.seconds.mean()), float(timing.seconds.max())
    rows = []
    for r in runs:
        rel = relative_cost(r, ref, family)
        sv, iv = r.state_violation(family), r.input_violation(family)
        rows.append(ClosedLoopRow(
            controller=r.name, runs=len(rel), cost_mean=float(np.mean(rel)), cost_worst=float(np.max(rel)),
            cost_within_1pct=float(np.mean(rel <= 1.0)), violation_share=float(np.mean((sv > tol) | (iv > tol))),
            state_violation_share=float(np.mean(sv > tol)), input_violation_share=float(np.mean(iv > tol)),
            state_violation_max=float(sv.max()), input_violation_max=float(iv.max()),
            reached=float(np.mean(r.reached(target_radius))), diverged=float(np.mean(r.diverged())),
            failed_steps=int(r.failed.sum()), step_mean=float(r.seconds.mean()), step_worst=float(r.seconds.max()),
            step_mean_ratio=t_mean / float(r.seconds.mean()), step_worst_ratio=t_worst / float(r.seconds.max())))
    return ClosedLoopTable(rows=rows, title=title, reference=reference, timing_reference=timing_reference,
                           target_radius=target_radius)
