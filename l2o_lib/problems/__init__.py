"""Problem families: ``get(name)`` returns one by name; each has a sampler, f/g/h and a reference solver.

What a family can do is declared by the capabilities it has (:mod:`l2o_lib.problems.capabilities`):
``isinstance(family, QPForm)``, ``LinearlyConstrained`` (a ``standard_form()``), ``Proximable``, ``OSQPForm``
(OSQP's sparse form ``qp(ξ)``), ``LinearMPCForm`` (a linear MPC problem: dynamics, weights, boxes, its QP forms),
``LinearDynamics`` (x⁺ = A x + B u, what a closed loop steps), ``MixedIntegerQP`` (a QP once its integers are
fixed), ``EqualityCompletable`` (equalities solvable for some variables: DC3's completion), ``InequalityJacobian``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from l2o_lib.problems.acopf import ACOPF
from l2o_lib.problems.base import OPTIMAL, CvxpyFamily, ProblemFamily, Solution
from l2o_lib.problems.capabilities import (
    DiagonalHessianForm,
    EqualityCompletable,
    InequalityJacobian,
    LinearDynamics,
    LinearlyConstrained,
    LinearMPCForm,
    MixedIntegerQP,
    OSQPForm,
    Proximable,
    QPForm,
    QuadraticForm,
    StandardForm,
)
from l2o_lib.problems.double_well import DoubleWell
from l2o_lib.problems.entropy import EntropyMax, SimplexEntropyForm
from l2o_lib.problems.l1qp_box import L1QPBox
from l2o_lib.problems.mpc import LinearMPC
from l2o_lib.problems.nonconvex2d import Nonconvex2D
from l2o_lib.problems.obstacle_mpc import FixedSidesQP, ObstacleMPC
from l2o_lib.problems.qp import LinearQP, dc3_qp, param_qp

#: name -> constructor (a class, or a function that builds a family with a variant's parameters)
FAMILIES: dict[str, Callable[..., ProblemFamily]] = {
    "nonconvex_2d": Nonconvex2D,
    "dc3_qp": dc3_qp,
    "entropy": EntropyMax,
    "l1qp_box": L1QPBox,
    "param_qp": param_qp,
    "mpc": LinearMPC,
    "double_well": DoubleWell,
    "acopf": ACOPF,
    "obstacle_mpc": ObstacleMPC,
}


def get(name: str, **kwargs: Any) -> ProblemFamily:
    """The problem family called ``name`` (see ``FAMILIES``), built with ``kwargs``."""
    if not isinstance(name, str):
        raise TypeError(f"problem family name must be a string, got {name!r} ({type(name).__name__}); known: {sorted(FAMILIES)}")
    if name not in FAMILIES:
        raise KeyError(f"unknown problem family {name!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[name](**kwargs)


def key_of(family: ProblemFamily) -> str:
    """The ``FAMILIES`` name ``family`` is built by (its ``key``), for cards and registries."""
    key = getattr(family, "key", None)
    if key is None:  # a family class registered directly, without a key attribute
        key = next((k for k, make in FAMILIES.items() if type(family) is make), None)
    if key not in FAMILIES:
        raise ValueError(f"{family!r} is not one of the registered families {sorted(FAMILIES)}")
    return key


__all__ = [
    "ACOPF", "CvxpyFamily", "DiagonalHessianForm", "DoubleWell", "EntropyMax", "EqualityCompletable", "FAMILIES",
    "FixedSidesQP", "InequalityJacobian", "L1QPBox", "LinearDynamics", "LinearMPC", "LinearMPCForm", "LinearQP",
    "LinearlyConstrained", "MixedIntegerQP", "Nonconvex2D", "OPTIMAL", "OSQPForm", "ObstacleMPC", "ProblemFamily",
    "Proximable", "QPForm", "QuadraticForm", "SimplexEntropyForm", "Solution", "StandardForm", "dc3_qp", "get",
    "key_of", "param_qp",
]
