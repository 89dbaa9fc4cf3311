"""Chapter 1's shipped direct-mapping MLP still meets the chapter's targets on freshly sampled held-out instances."""

from functools import cache

import numpy as np
import pytest

from l2o_lib import metrics, pretrained

NAME = "ch1_direct_mlp"


@cache
def _score(n: int, seed: int) -> tuple[metrics.Row, float]:
    """Gap/violation row and share of infeasible predictions (max g > 1e-4) on ``n`` fresh instances."""
    model = pretrained.load(NAME)
    xi = model.problem.sample(n, seed=seed)
    ref = model.problem.solve(xi, progress=False).require_ok()
    x = model.predict(xi)
    row = metrics.evaluate(model.problem, x, xi, ref, method=NAME)
    infeasible = float(np.mean(metrics.per_instance(model.problem, x, xi, ref)["ineq"] > 1e-4))
    return row, infeasible


def test_card_loads_and_refuses_out_of_domain_parameters():
    model = pretrained.load(NAME)
    card = pretrained.card(NAME)
    assert card.chapter == "01_what_is_l2o" and card.family == "nonconvex_2d"
    assert set(card.targets) == {"gap_mean"} and set(card.extra_targets) == {"infeasible_share"}
    x = model.predict(model.problem.sample(5, seed=1))
    assert x.shape == (5, 2) and np.all(np.isfinite(x))
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.array([[3.0, 0.7]]))


def test_meets_targets_on_fresh_instances():
    """Close to optimal on average, and (the chapter's point) infeasible on a sizeable share of instances."""
    row, infeasible = _score(200, seed=1777)
    assert row.failed == 0 and row.n == 200
    result = pretrained.check(row, NAME, extra={"infeasible_share": infeasible}).require()
    assert {t.field for t in result.met} == {"gap_mean", "infeasible_share"}


@pytest.mark.slow
def test_meets_targets_on_1000_fresh_instances():
    row, infeasible = _score(1000, seed=1778)
    pretrained.check(row, NAME, extra={"infeasible_share": infeasible}).require()
