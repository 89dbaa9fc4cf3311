"""Chapter 7's shipped HUANets, loaded through the registry, on freshly sampled held-out instances.

Each card lists the issue's targets for its model (mean gap, max inequality and equality violation, speed-up over
Clarabel's solver time); the shipped predictor, the HUANet layers alone with nothing after them, must meet them on
instances it has never seen. Speed is not asserted here (a timed test only measures
the machine's load): the card records the full-mode run's speed-up, and `python -m l2o_lib.scorecard` re-measures it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("jax")

from l2o_lib import metrics, pretrained  # noqa: E402


@pytest.mark.parametrize("name", ["ch7_huanet_entropy", "ch7_huanet_qp"])
def test_shipped_huanet_meets_its_targets_on_fresh_instances(name):
    model = pretrained.load(name)
    f, head = model.problem, model.card.headline
    xi = f.sample(1000, seed=90210)
    ref = f.solve(xi, progress=False).require_ok()
    x = model.predict(xi)
    r = metrics.evaluate(f, x, xi, ref, method=name)
    assert r.failed == 0 and r.n == 1000
    pretrained.check(r, model.card).require()
    # the card's accuracy reproduces on new instances (same order of magnitude)
    assert r.gap_mean <= 3.0 * head["gap_mean"] + 1e-7
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.asarray(f.param_high)[None, :] + 1.0)


def test_non_finite_predictions_are_reported_not_silent():
    """A model that returns NaN (here the shipped HUANet with one weight set to NaN) makes predict warn, naming rows."""
    from l2o_lib.jax.huanet import load_predict

    model = pretrained.load("ch7_huanet_entropy")
    f = model.problem
    tensors = model.tensors()
    tensors["b3"] = np.array(tensors["b3"])
    tensors["b3"][0, 0] = np.nan
    broken = pretrained.checked_predict(f, load_predict(f, tensors, model.card.config), "broken")
    with pytest.warns(RuntimeWarning, match=r"broken.predict: 4 of 4 predictions are not finite \(rows 0, 1, 2, 3\)"):
        x = broken(f.sample(4, seed=1))
    assert np.isnan(x).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(model.predict(f.sample(50, seed=2))).all()   # the real model: no warning in Ξ
