"""Learning around a solver (chapter 8): active sets, KKT certificates, active-set laws, the certified solver.

Everything here works on a family's OSQP form ``family.qp(ξ)`` (P, q, A, l, u with only l, u depending on ξ,
the first ``n_eq`` rows equalities, the rest the identity on x: simple bounds) and needs no framework.

* :func:`active_sets`, :func:`kkt_certify` (:mod:`.kkt`): which bounds a solution holds, and the KKT check
  (primal feasibility, dual sign and complementary slackness, stationarity): an answer that passes is optimal,
  whoever proposed it.
* :class:`ActiveSetLaws` (:mod:`.laws`): the strategies seen in training, each with its exact affine law
  ξ ↦ (x, y) and its critical region G_s [ξ; 1] ≤ 1.
* :class:`CertifiedSolver` (:mod:`.certified`): classifier scores → the top strategies' region tests
  (compiled) → DAQP for the rest; a solver session (``solve(batch)``, ``solve_one(ξ)``).
* :func:`osqp_iterates`, :func:`break_even` (:mod:`.iterates`): OSQP's iteration for plots; after how many
  solves an offline cost is paid back.
"""

from l2o_lib.enhance.certified import UNCERTIFIED, CertifiedResult, CertifiedSolver, OneAnswer
from l2o_lib.enhance.iterates import break_even, osqp_iterates
from l2o_lib.enhance.kkt import Certificate, active_sets, bounds_part, kkt_certify
from l2o_lib.enhance.laws import ActiveSetLaws, Regions

__all__ = [
    "UNCERTIFIED", "ActiveSetLaws", "Certificate", "CertifiedResult", "CertifiedSolver", "OneAnswer", "Regions",
    "active_sets", "bounds_part", "break_even", "kkt_certify", "osqp_iterates",
]
