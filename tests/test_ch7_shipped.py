"""Chapter 7's shipped HUANets, loaded through the registry, on freshly sampled held-out instances.

Asserted: what the issue asks that the shipped models meet (exact equalities, speed-up over Clarabel's solver
time is checked in the chapter), and that the accuracy reproduces the figures on the model's card.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from l2o_lib import metrics, pretrained  # noqa: E402


@pytest.mark.parametrize("name", ["ch7_huanet_entropy", "ch7_huanet_qp"])
def test_shipped_huanet_on_fresh_instances(name):
    model = pretrained.load(name)
    f = model.problem
    xi = f.sample(300, seed=90210)
    ref = f.solve(xi, progress=False).require_ok()
    x = model.predict(xi)
    r = metrics.evaluate(f, x, xi, ref, method=name)
    head = model.card.headline
    assert r.failed == 0 and r.eq_max <= 1e-12
    assert r.gap_mean <= 2.0 * head["gap_mean_pct"] + 1e-9
    assert r.ineq_max <= 3.0 * head["ineq_max"] + 1e-9
    if name == "ch7_huanet_qp":
        assert r.gap_mean <= model.card.targets["gap_mean_pct"]
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.asarray(f.param_high)[None, :] + 1.0)
