"""The shipped LEAF model (Chapter 6) on fresh held-out instances: feasible, and as accurate as its card says."""

import numpy as np
import pytest
from shipped import fresh_instances, load_or_skip

from l2o_lib import metrics, pretrained

pytest.importorskip("torch")
NAME = "ch6_leaf"


@pytest.fixture(scope="module")
def model():
    return load_or_skip(NAME)


@pytest.fixture(scope="module")
def fresh(model):
    return fresh_instances(model, 200, seed=20261128)  # not a seed the chapter trains or tests on


def _check_against(row, figures, target):
    # the accuracy the card reports, reproduced on new instances (the card says whether it meets the target)
    assert row.failed == 0
    assert row.gap_mean <= max(2.0 * figures["gap_mean"], 1e-3), (row.gap_mean, figures["gap_mean"])
    if figures["gap_mean"] <= target:
        assert row.gap_mean <= 1.5 * target, (row.gap_mean, target)


def test_card_names_its_targets(model):
    assert model.card.family == "l1qp_box" and model.card.loader == "l2o_lib.torch.icnn:load_leaf"
    assert model.card.targets == {"gap_mean": 0.01, "ineq_max": 1e-4}
    assert model.card.config["rho"] > 0 and model.card.config["iters"] >= 1


def test_fresh_instances_match_the_headline(model, fresh):
    xi, ref = fresh
    row = metrics.evaluate(model.problem, model.predict(xi), xi, ref, method=NAME)
    assert row.ineq_max <= model.card.targets["ineq_max"]  # MEL-ADMM returns a projection: feasible
    _check_against(row, model.card.headline, model.card.targets["gap_mean"])


def test_learned_steps_alone_match_the_card(model, fresh):
    # the same envelope without the exact polish: the card's "leaf_only" figures
    from l2o_lib.torch.icnn import load_leaf

    head = model.card.headline
    if "leaf_only" not in head:
        pytest.skip("this card has no polish step, so its headline is already the learned steps alone")
    xi, ref = fresh
    card = model.card
    predict = load_leaf(model.problem, pretrained.read_tensors(pretrained.data_dir() / card.file),
                        {**card.config, "polish": 0})
    row = metrics.evaluate(model.problem, predict(xi), xi, ref, method=f"{NAME} without polish")
    _check_against(row, head["leaf_only"], card.targets["gap_mean"])
    polished = metrics.evaluate(model.problem, model.predict(xi), xi, ref, method=NAME)
    assert polished.gap_mean < row.gap_mean  # the exact iterations remove part of the learned bias


def test_predict_rejects_bad_parameters(model):
    fam = model.problem
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.full((1, fam.n_params), 3.0))
    with pytest.raises(ValueError, match="must have shape"):
        model.predict(np.zeros(fam.n_params))
