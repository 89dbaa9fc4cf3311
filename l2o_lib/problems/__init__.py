"""Problem families: ``get(name)`` returns one by name; each has a sampler, f/g/h and a reference solver."""

from __future__ import annotations

from typing import Any

from l2o_lib.problems.base import OPTIMAL, ProblemFamily, Solution
from l2o_lib.problems.dc3_qp import DC3QP
from l2o_lib.problems.double_well import DoubleWell
from l2o_lib.problems.entropy import EntropyMax
from l2o_lib.problems.l1qp_box import L1QPBox
from l2o_lib.problems.nonconvex2d import Nonconvex2D
from l2o_lib.problems.param_qp import ParamQP

FAMILIES: dict[str, type[ProblemFamily]] = {
    "nonconvex_2d": Nonconvex2D,
    "dc3_qp": DC3QP,
    "entropy": EntropyMax,
    "l1qp_box": L1QPBox,
    "param_qp": ParamQP,
    "double_well": DoubleWell,
}


def get(name: str, **kwargs: Any) -> ProblemFamily:
    """The problem family called ``name`` (see ``FAMILIES``), built with ``kwargs``."""
    if name not in FAMILIES:
        raise KeyError(f"unknown problem family {name!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[name](**kwargs)


__all__ = ["DC3QP", "EntropyMax", "FAMILIES", "Nonconvex2D", "OPTIMAL", "ProblemFamily", "Solution", "get"]
