"""Chapter 7's shipped HUANets, loaded through the registry, on freshly sampled held-out instances.

Each card lists the issue's targets for its model (mean gap, max inequality and equality violation, speed-up over
Clarabel's solver time); the shipped predictor, the HUANet layers alone with nothing after them, must meet them on
instances it has never seen. Speed is not asserted here (a timed test only measures
the machine's load): the card records the full-mode run's speed-up, and `python -m l2o_lib.scorecard` re-measures it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from l2o_lib import metrics, pretrained  # noqa: E402


@pytest.mark.parametrize("name", ["ch7_huanet_entropy", "ch7_huanet_qp"])
def test_shipped_huanet_meets_its_targets_on_fresh_instances(name):
    model = pretrained.load(name)
    f, head, targets = model.problem, model.card.headline, model.card.targets
    xi = f.sample(1000, seed=90210)
    ref = f.solve(xi, progress=False).require_ok()
    x = model.predict(xi)
    r = metrics.evaluate(f, x, xi, ref, method=name)
    assert r.failed == 0 and r.n == 1000
    assert r.gap_mean <= targets["gap_mean_pct"], (r.gap_mean, targets)
    assert r.eq_max <= targets["eq_max"], r.eq_max
    if "ineq_max" in targets:
        assert r.ineq_max <= targets["ineq_max"], r.ineq_max
    # the card's accuracy reproduces on new instances (same order of magnitude)
    assert r.gap_mean <= 3.0 * head["gap_mean_pct"] + 1e-7
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.asarray(f.param_high)[None, :] + 1.0)


def test_shipped_huanet_diverging_out_of_domain_is_reported_not_silent():
    """Tighter inequalities than in training (check_domain=False): some outputs are NaN, and predict says so."""
    model = pretrained.load("ch7_huanet_entropy")
    f = model.problem
    xi = f.sample(300, seed=7002) - 0.05 * (f.param_high - f.param_low)
    with pytest.warns(RuntimeWarning, match=r"predictions are not finite .*check_domain=False"):
        x = model.predict(xi, check_domain=False)
    assert x.shape == (300, f.n_vars) and 0 < int((~np.isfinite(x).all(axis=1)).sum()) < 300
