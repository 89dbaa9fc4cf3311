"""The shipped LEAF model (Chapter 6) on fresh held-out instances: feasible, and as accurate as its card says."""

import numpy as np
import pytest
from shipped import shipped_fixtures

from l2o_lib import metrics, pretrained

pytest.importorskip("torch")
NAME = "ch6_leaf"


model, fresh = shipped_fixtures(NAME, 300, seed=20261128)  # a seed the chapter never trains or tests on


def test_card_names_its_targets_and_is_learned_only(model):
    card = model.card
    assert card.family == "l1qp_box" and card.loader == "leaf"
    assert set(card.targets) == {"gap_mean", "ineq_max"}
    stages = card.config["stages"]
    assert len(stages) >= 1 and all(s["rho"] > 0 and s["iters"] >= 1 for s in stages)
    assert "polish" not in card.config  # the headline is the learned x-updates alone: no exact-prox stage


def test_fresh_instances_meet_the_target_like_the_card(model, fresh):
    xi, ref = fresh
    row = metrics.evaluate(model.problem, model.predict(xi), xi, ref, method=NAME)
    head = model.card.headline
    assert row.failed == 0
    pretrained.check(head, model.card).require()  # what the card claims ...
    assert row.gap_mean <= max(2.0 * head["gap_mean"], 1e-3), (row.gap_mean, head["gap_mean"])  # ... reproduced
    pretrained.check(row, model.card).require()  # on 300 new instances (ineq_max: MEL-ADMM returns a projection)


def test_the_generic_envelope_it_carries_matches_its_figures(model, fresh):
    # the chapter's generic (64, 64) ICNN, stored under "generic.": alone it misses the target, a polish meets it
    from l2o_lib.torch.icnn import load_leaf
    from l2o_lib.torch.nets import with_prefix

    card, xi, ref = model.card, *fresh
    generic = with_prefix(model.tensors(), "generic.")
    rows = {}
    for polish, key in ((0, "generic_leaf"), (card.config["generic"]["polish"], "generic_leaf_polish")):
        predict = load_leaf(model.problem, generic, {**card.config["generic"], "dtype": card.config["dtype"], "polish": polish})
        rows[key] = metrics.evaluate(model.problem, predict(xi), xi, ref, method=key)
        recorded = card.headline_extra[key]["gap_mean"]
        assert rows[key].gap_mean <= max(2.0 * recorded, 1e-3), (key, rows[key].gap_mean)
    assert not pretrained.check(rows["generic_leaf"], card).ok  # the reason the chapter builds a structured one
    assert rows["generic_leaf_polish"].gap_mean < rows["generic_leaf"].gap_mean


def test_predict_rejects_bad_parameters(model):
    fam = model.problem
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.full((1, fam.n_params), 3.0))
    with pytest.raises(ValueError, match="must have shape"):
        model.predict(np.zeros(fam.n_params))
