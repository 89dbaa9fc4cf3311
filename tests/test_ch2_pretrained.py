"""Chapter 2's shipped models still meet the chapter's targets on freshly sampled held-out instances.

The four models are written by a full-mode run of the chapter (``python scripts/regenerate_data.py 02``); each
card lists its targets as bounds on columns of the results table (fields of ``metrics.Row``), and
``pretrained.check`` decides every one of them on instances none of the models was trained on.
"""

from functools import cache

import numpy as np
import pytest

from l2o_lib import metrics, pretrained

pytest.importorskip("torch")

MODELS = ("ch2_supervised_nonconvex_2d", "ch2_selfsup_nonconvex_2d", "ch2_supervised_dc3_qp", "ch2_selfsup_dc3_qp")
#: which Row columns each card bounds (the bounds themselves are written once, in the card)
TARGETED = {"ch2_supervised_nonconvex_2d": {"gap_mean"}, "ch2_selfsup_nonconvex_2d": {"gap_mean", "ineq_mean"},
            "ch2_supervised_dc3_qp": {"gap_mean"}, "ch2_selfsup_dc3_qp": {"gap_mean", "ineq_mean"}}


@cache
def _reference(family: str, n: int, seed: int):
    """Fresh instances and their reference solutions, solved once per family for both models."""
    problem = pretrained.load(f"ch2_supervised_{family}").problem
    xi = problem.sample(n, seed=seed)
    return xi, problem.solve(xi, progress=False).require_ok()


def _check_targets(name: str, n: int, seed: int) -> metrics.Row:
    model = pretrained.load(name)
    xi, ref = _reference(model.card.family, n, seed)
    row = metrics.evaluate(model.problem, model.predict(xi), xi, ref, method=name)
    assert row.failed == 0 and row.n == n, row
    pretrained.check(row, model.card).require()
    return row


@pytest.mark.parametrize("name", MODELS)
def test_card_carries_the_issue_targets_and_loads(name):
    model = pretrained.load(name)  # KeyError (not a skip) when the model is not shipped
    assert model.card.chapter == "02_supervised_vs_self_supervised"
    assert set(model.card.targets) == TARGETED[name]
    x = model.predict(model.problem.sample(4, seed=1))
    assert x.shape == (4, model.problem.n_vars) and np.all(np.isfinite(x))
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(model.problem.param_high[None, :] + 1.0)


# 200 fresh instances: a few seconds (2-D: IPOPT from four starts; DC3: Clarabel)
@pytest.mark.parametrize("name", MODELS)
def test_models_meet_the_targets_on_fresh_instances(name):
    _check_targets(name, 200, seed=777)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_models_meet_the_targets_on_1000_fresh_instances(name):
    _check_targets(name, 1000, seed=779)
