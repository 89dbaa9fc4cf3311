"""The strategy classifier of chapter 11 as a shipped model (MLOPT on a mixed-integer QP family).

The network is chapter 8's :class:`~l2o_lib.torch.warmstart.ScoreNet` with one score per training strategy; the
registry loader's ``predict(ξ)`` returns the *pipeline's* answer: the relaxation's QP first (optimal where its
answer is feasible), then the top-k strategies' QPs solved by DAQP (set up once, one lazy-constraint repair
each), the best feasible one, and the family's mixed-integer reference solver where none is feasible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from l2o_lib import strategies
from l2o_lib.compiled import CompiledMLP
from l2o_lib.problems.capabilities import MixedIntegerQP, require
from l2o_lib.solvers import NullSpaceDAQPSession
from l2o_lib.torch.nets import from_arrays
from l2o_lib.torch.warmstart import ScoreNet

#: arrays of a ``strategy`` model file besides the network's weights
TABLE_KEYS = ("strategies", "counts", "train_xi", "train_ids")


def strategy_parts(family: Any, arrays: dict, config: dict) -> tuple[strategies.StrategyTable, CompiledMLP]:
    """The strategy table and the classifier (a :class:`~l2o_lib.compiled.CompiledMLP`) of a ``strategy`` card."""
    from l2o_lib.torch.export import export_score_net

    table = strategies.StrategyTable(np.asarray(arrays["strategies"], dtype=np.int8), np.asarray(arrays["counts"]))
    net = from_arrays(ScoreNet(family, len(table), config["hidden"]),
                      {k: v for k, v in arrays.items() if k not in TABLE_KEYS}).float().eval()
    return table, export_score_net(net)


def strategy_solver(family: Any, table: strategies.StrategyTable, scores: Callable[[np.ndarray], np.ndarray], *,
                    top_k: int, repairs: int = 1) -> Callable[[np.ndarray], strategies.StrategySolve]:
    """ξ ↦ :class:`~l2o_lib.strategies.StrategySolve`: ξ in the family's canonical order; the relaxation's QP
    (its answer, where feasible, is optimal); else the classifier's ``top_k`` strategies, their QPs by DAQP, the
    best feasible answer; the reference solver where none is."""
    require(family, MixedIntegerQP, "strategy_solver")
    form = family.fixed_integer_qp()
    session = NullSpaceDAQPSession(form)

    def fallback(xi: np.ndarray) -> Any:
        return family.solve(xi, check_domain=False, executor="serial", progress=False)

    def solve(xi: np.ndarray) -> strategies.StrategySolve:
        xi = family.canonical(xi)
        return strategies.solve_candidates(form, session, table.strategies, strategies.top_k(scores(xi), top_k), xi,
                                           fallback=fallback, repairs=repairs, relaxation=True)

    return solve


def load_strategy(family: Any, arrays: dict, config: dict) -> Callable[[np.ndarray], np.ndarray]:
    """Registry loader: predict(ξ) = the best feasible of the top-k strategies' QPs, else the reference's answer."""
    table, scores = strategy_parts(family, arrays, config)
    solve = strategy_solver(family, table, scores, top_k=int(config["top_k"]), repairs=int(config.get("repairs", 1)))

    def predict(xi: np.ndarray) -> np.ndarray:
        return solve(xi).x

    return predict
