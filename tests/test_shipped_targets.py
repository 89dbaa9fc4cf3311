"""Every shipped model meets the targets written on its card, on fresh held-out instances (``pretrained.check``).

The targets live in one place, the card; chapters, the scorecard, the workshop check and this test all read them
through ``pretrained.check``. Timing targets (speed-up) are reported by ``check`` but not decided here.
"""

import pytest

from l2o_lib import metrics, pretrained

pytest.importorskip("torch")


@pytest.mark.parametrize("name", pretrained.available())
def test_meets_the_targets_on_its_card(name):
    model = pretrained.load(name)
    f = model.problem
    xi = f.sample(200, seed=31415)  # a seed no chapter trains or tests on
    ref = f.solve(xi, progress=False).require_ok()
    row = metrics.evaluate(f, model.predict(xi), xi, ref, method=name)
    result = pretrained.check(row, model.card)
    print(result)
    assert row.failed == 0, row
    assert result.ok, str(result)
    if model.card.targets:  # a card without accuracy targets (closed-loop controllers) is judged by its chapter's tests
        assert result.met, str(result)
    assert pretrained.check(model.card.headline, model.card).ok  # what the card records meets what it promises
