"""Chapter 2's shipped models still meet the chapter's targets on freshly sampled held-out instances."""

from functools import cache

import numpy as np
import pytest

from l2o_lib import metrics, pretrained

MODELS = ("ch2_supervised_nonconvex_2d", "ch2_selfsup_nonconvex_2d", "ch2_supervised_dc3_qp", "ch2_selfsup_dc3_qp")

# the models are written by a full-mode run of the chapter (python scripts/regenerate_data.py 02); until one has
# completed, there is nothing to check
pytestmark = pytest.mark.skipif(not set(MODELS) <= set(pretrained.available()),
                                reason="chapter 2's models are not shipped yet (run scripts/regenerate_data.py 02)")


@cache
def _reference(family: str, n: int, seed: int):
    """Fresh instances and their reference solutions, solved once per family for both models."""
    problem = pretrained.load(f"ch2_supervised_{family}").problem
    xi = problem.sample(n, seed=seed)
    return xi, problem.solve(xi, progress=False).require_ok()


def _score(name: str, n: int, seed: int) -> metrics.Row:
    model = pretrained.load(name)
    xi, ref = _reference(model.card.family, n, seed)
    return metrics.evaluate(model.problem, model.predict(xi), xi, ref, method=name)


@pytest.mark.parametrize("name", MODELS)
def test_card_carries_its_targets_and_loads(name):
    model = pretrained.load(name)
    assert model.card.targets and model.card.chapter == "02_supervised_vs_self_supervised"
    x = model.predict(model.problem.sample(4, seed=1))
    assert x.shape == (4, model.problem.n_vars) and np.all(np.isfinite(x))
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(model.problem.param_high[None, :] + 1.0)


# a few hundred fresh instances: fast enough for the default run (2-D: IPOPT multi-start, DC3: Clarabel)
@pytest.mark.parametrize("name", ["ch2_supervised_nonconvex_2d", "ch2_selfsup_nonconvex_2d"])
def test_2d_models_meet_the_targets_on_fresh_instances(name):
    row = _score(name, 300, seed=777)
    targets = pretrained.card(name).targets
    assert row.failed == 0
    assert row.gap_mean <= targets["gap_mean"], row
    if "ineq_mean" in targets:
        assert row.ineq_mean <= targets["ineq_mean"], row


@pytest.mark.parametrize("name", ["ch2_supervised_dc3_qp", "ch2_selfsup_dc3_qp"])
def test_dc3_models_meet_the_targets_on_fresh_instances(name):
    row = _score(name, 300, seed=778)
    targets = pretrained.card(name).targets
    assert row.failed == 0
    assert row.gap_mean <= targets["gap_mean"], row
    if "ineq_mean" in targets:
        assert row.ineq_mean <= targets["ineq_mean"], row


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_models_meet_the_targets_on_1000_fresh_instances(name):
    row = _score(name, 1000, seed=779)
    targets = pretrained.card(name).targets
    assert row.gap_mean <= targets["gap_mean"], row
    if "ineq_mean" in targets:
        assert row.ineq_mean <= targets["ineq_mean"], row
