"""Chapter 11's shipped strategy classifier, loaded through the registry, on freshly sampled held-out instances.

predict returns the pipeline's answer (the best feasible of the top-k strategies' QPs, else SCIP's), so every
answer must be feasible; what the classifier must show is that its candidates are feasible often enough that the
fallback is rare, and that the answers are nearly optimal (the card's targets).
"""

from __future__ import annotations

import numpy as np
import pytest
from shipped import load_or_skip

pytest.importorskip("torch")

from l2o_lib import metrics, pretrained, strategies  # noqa: E402
from l2o_lib.solvers import NullSpaceDAQPSession  # noqa: E402
from l2o_lib.torch.strategies import strategy_parts, strategy_solver  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return load_or_skip("ch11_strategy_classifier")


@pytest.fixture(scope="module")
def fresh(model):
    """40 fresh instances and SCIP's answers; about one in ten is infeasible, which SCIP proves (status)."""
    xi = model.problem.sample(40, seed=1111)
    ref = model.problem.solve(xi, progress=False)
    assert set(ref.status[~ref.ok]) <= {"infeasible"} and ref.ok.mean() > 0.75
    return xi, ref


@pytest.mark.slow
def test_answers_are_feasible_and_meet_the_card_on_fresh_instances(model, fresh):
    xi, ref = fresh  # SCIP on 40 fresh instances: the reason this test is slow
    x = model.predict(xi[ref.ok])
    r = metrics.evaluate(model.problem, x, xi[ref.ok], ref.subset(ref.ok), method=model.name)
    assert r.failed == 0
    pretrained.check(r, model.card).require()
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.hstack([xi[:1, :6], np.full((1, 6), 11.0)]))


@pytest.mark.slow
def test_candidates_are_feasible_without_the_fallback_and_order_does_not_matter(model, fresh):
    xi, ref = fresh
    fam = model.problem
    table, scores = strategy_parts(fam, model.tensors(), model.card.config)
    solve = strategy_solver(fam, table, scores, top_k=10)
    xi = xi[ref.ok]
    form = fam.fixed_integer_qp()
    out = strategies.solve_candidates(form, NullSpaceDAQPSession(form), table.strategies,
                                      strategies.top_k(scores(xi), 10), xi, repairs=1)
    assert out.feasible_within(10) >= 0.9
    # the obstacles listed in another order: the same instance, the same answer
    shuffled = xi.copy()
    c = xi[:, 6:].reshape(len(xi), 3, 2)
    shuffled[:, 6:] = c[:, [2, 0, 1]].reshape(len(xi), -1)
    np.testing.assert_allclose(solve(shuffled).x, solve(xi).x, atol=1e-9)
