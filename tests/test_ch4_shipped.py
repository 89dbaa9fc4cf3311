"""Chapter 4's shipped models, loaded through the registry and scored on freshly sampled held-out instances."""

import numpy as np
import pytest

from l2o_lib import metrics, pretrained

pytest.importorskip("torch")


def _load(name: str) -> pretrained.Pretrained:
    if name not in pretrained.available():
        pytest.skip(f"{name} is not shipped in {pretrained.data_dir()}")
    return pretrained.load(name)


def test_dc3_nonconvex_2d_on_fresh_instances():
    model = _load("ch4_dc3_nonconvex_2d")
    xi = model.problem.sample(200, seed=31337)
    ref = model.problem.solve(xi)
    row = metrics.evaluate(model.problem, model.predict(xi), xi, ref, method="ch4_dc3_nonconvex_2d")
    t = model.card.targets
    assert row.failed == 0 and row.n == 200
    assert row.ineq_max <= t["violation_max"]            # 1e-5 after the 20 correction steps
    assert row.gap_mean <= t["gap_mean_percent"]         # 0.05 % (0.046 % on these 200; 0.043 % on the chapter's 1000)
    # the ≥ 100× speed-up target is measured in the chapter (same run as IPOPT), not here: timing tests are flaky
    with pytest.raises(ValueError, match="outside the domain"):
        model.predict(np.array([[0.3, 0.5]]))


def test_dc3_qp_on_fresh_instances():
    model = _load("ch4_dc3_qp")
    xi = model.problem.sample(200, seed=31337)
    ref = model.problem.solve(xi)
    row = metrics.evaluate(model.problem, model.predict(xi), xi, ref, method="ch4_dc3_qp")
    t = model.card.targets
    assert row.failed == 0 and row.n == 200
    assert row.gap_mean <= t["gap_mean_percent"] and row.eq_max <= t["eq_max"] and row.ineq_max <= t["ineq_max"]
