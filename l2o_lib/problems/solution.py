"""What a reference solver returns: :data:`OPTIMAL` and :class:`Solution` (no import of a family)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

OPTIMAL = "optimal"


@dataclass(frozen=True)
class Solution:
    """Reference solutions of a batch of instances.

    Rows whose ``status`` is not ``"optimal"`` hold NaN in ``x`` and ``objective``; nothing is
    returned as if it were a solution when the solver did not say so. ``xi`` holds the instances solved (when
    known), so that scoring against another batch's solutions is an error, not a wrong table.
    """

    x: np.ndarray
    objective: np.ndarray
    status: np.ndarray
    solve_time: np.ndarray
    wall_time: np.ndarray
    solver: str
    info: dict[str, Any] = field(default_factory=dict)
    xi: np.ndarray | None = None

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the instances solved to optimality."""
        return self.status == OPTIMAL

    def require_ok(self) -> Solution:
        """Return self, or raise naming the instances that were not solved and why."""
        bad = np.flatnonzero(~self.ok)
        if bad.size:
            shown = ", ".join(f"#{i}: {self.status[i]}" for i in bad[:10])
            more = f" (and {bad.size - 10} more)" if bad.size > 10 else ""
            raise ValueError(f"{self.solver} did not solve {bad.size} of {len(self.status)} instances: {shown}{more}")
        return self

    def __len__(self) -> int:
        return len(self.status)

    def subset(self, index: np.ndarray) -> Solution:
        """The solutions of the selected instances (boolean mask or integer index)."""
        return Solution(
            x=self.x[index],
            objective=self.objective[index],
            status=self.status[index],
            solve_time=self.solve_time[index],
            wall_time=self.wall_time[index],
            solver=self.solver,
            info=dict(self.info),
            xi=None if self.xi is None else self.xi[index],
        )

    def check_instances(self, xi: np.ndarray, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` unless these are the solutions of the instances ``xi``."""
        if len(self) != len(xi):
            raise ValueError(f"{where}: the reference has {len(self)} instances but ξ has {len(xi)}")
        if self.xi is not None and not (self.xi.shape == np.shape(xi)
                                        and np.allclose(self.xi, xi, rtol=1e-6, atol=1e-9)):
            rows = np.flatnonzero(~np.isclose(self.xi, xi, rtol=1e-6, atol=1e-9).all(axis=1)) if (
                self.xi.shape == np.shape(xi)) else np.arange(len(xi))
            raise ValueError(f"{where}: the reference solves other instances than ξ (rows {rows[:5].tolist()} differ): "
                             "score against the reference of these instances")
