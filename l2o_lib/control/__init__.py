"""Controllers in closed loop on a linear plant, and the metrics that judge them (chapter 9).

* :mod:`.invariant`: polytopes in the plane, the maximal control invariant set, safe input intervals;
* :mod:`.exact`: exact MPC by OSQP, DAQP and Clarabel, warm-started from the shifted plan;
* :mod:`.policies`: a policy u = π(x), the safety filter around one, the safe hybrid on chapter 8's certified
  active set;
* :mod:`.simulate`: closed-loop simulation of batched controllers (per-step, per-system timing, perturbed
  plant) and the one-system latency;
* :mod:`.table`: the closed-loop results table.

The controllers need a :class:`~l2o_lib.problems.LinearMPCForm` family (dynamics, weights, boxes, horizon, its
QP forms), never a family's name. The closed-loop rows of the shipped models are in :mod:`l2o_lib.scorecard`.
"""

from l2o_lib.control.exact import (
    ClarabelController,
    DAQPController,
    OSQPController,
    TerminalSetQP,
    shift_duals,
    shift_plan,
)
from l2o_lib.control.invariant import Polytope, control_invariant_set, safe_input_interval
from l2o_lib.control.policies import CertifiedHybrid, PolicyController, SafetyFilter
from l2o_lib.control.simulate import ClosedLoop, Controller, latency, simulate
from l2o_lib.control.table import ClosedLoopRow, ClosedLoopTable, closed_loop_table, relative_cost

__all__ = [
    "CertifiedHybrid", "ClarabelController", "ClosedLoop", "ClosedLoopRow", "ClosedLoopTable", "Controller",
    "DAQPController", "OSQPController", "PolicyController", "Polytope", "SafetyFilter", "TerminalSetQP",
    "closed_loop_table",
    "control_invariant_set", "latency", "relative_cost", "safe_input_interval", "shift_duals", "shift_plan",
    "simulate",
]
