"""Every public entry point rejects bad input with a clear message naming what is wrong."""

import numpy as np
import pytest

from l2o_lib import datasets, metrics, pretrained, problems, runtime, viz

FAM = problems.get("nonconvex_2d")
XI = FAM.sample(3, seed=0)
X = np.zeros((3, 2))


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: problems.get("nope"), KeyError, "unknown problem family 'nope'"),
        (lambda: FAM.sample(0, seed=1), ValueError, "n must be a positive integer"),
        (lambda: FAM.sample(5, seed=-1), ValueError, "seed must be a non-negative integer"),
        (lambda: FAM.sample(2.5, seed=1), ValueError, "n must be a positive integer"),
        (lambda: FAM.objective(X, XI[0]), ValueError, r"ξ must have shape \(batch, 2\).*single instance"),
        (lambda: FAM.objective(X[:, :1], XI), ValueError, r"x must have shape \(batch, 2\)"),
        (lambda: FAM.objective(X[:2], XI), ValueError, "x has 2 rows but ξ has 3"),
        (lambda: FAM.objective(np.full((3, 2), np.nan), XI), ValueError, "x has NaN or inf in rows"),
        (lambda: FAM.ineq_residual(X, np.array([[1.0, np.inf]] * 3)), ValueError, "ξ has NaN or inf"),
        (lambda: FAM.solve(np.array([[3.0, 1.0]])), ValueError, r"ξ\[0, 0\] \(p\) = 3 is outside the domain"),
        (lambda: FAM.solve(np.array([[1.0, 0.0]])), ValueError, r"\(a\) = 0 is outside the domain \[0.2, 1.2\]"),
        (lambda: FAM.check_params(np.ones((2, 3))), ValueError, r"got \(2, 3\)"),
        (lambda: problems.Nonconvex2D(p_range=(2.0, 1.0)), ValueError, "p_range must be increasing"),
        (lambda: problems.dc3_qp(n_vars=10, n_eq=10), ValueError, "need n_eq < n_vars"),
        (lambda: problems.dc3_qp(n_vars=0), ValueError, "n_vars must be a positive integer"),
        (lambda: problems.EntropyMax(n_ineq=-2), ValueError, "n_ineq must be a positive integer"),
        (lambda: metrics.gap_percent([1.0, 2.0], [1.0]), ValueError, "f_hat has shape"),
        (lambda: metrics.gap_percent([1.0], [np.nan]), ValueError, "f_star has 1 non-finite"),
        (lambda: metrics.evaluate(FAM, np.zeros((3, 3)), XI, FAM.solve(XI)), ValueError, r"x must have shape \(3, 2\)"),
        (lambda: metrics.evaluate(FAM, X[:2], XI[:2], FAM.solve(XI)), ValueError, "reference has 3 instances"),
        (lambda: metrics.timeit(lambda: None, repeat=0), ValueError, "need repeat ≥ 1"),
        (lambda: metrics.compare(FAM, {}, XI), ValueError, "give at least one method"),
        (lambda: metrics.compare(FAM, {"m": 3}, XI), TypeError, "method 'm' is not callable"),
        (lambda: pretrained.load("no_such_model"), KeyError, "unknown pretrained model 'no_such_model'"),
        (lambda: pretrained.resolve("no_colon"), ValueError, "not in l2o_lib.s loader registry"),
        (lambda: runtime.seed_everything(-3), ValueError, "seed must be a non-negative integer"),
        (lambda: viz.Trace("t", np.zeros(5)), ValueError, r"x must have shape \(K\+1, n\)"),
        (lambda: viz.Trace("t", np.zeros((5, 2)), {"r": np.ones(4)}), ValueError, "residual 'r' has shape"),
        (lambda: viz.explore_static(problems.get("entropy")), ValueError, "the explorer draws 2-D families"),
        (lambda: viz.explore_static(FAM, grid=(3,)), ValueError, "grid needs one size per parameter"),
        (lambda: viz.StaticSlider([("k", ["0", "1"])], [b"png"]), ValueError, "1 frames for a grid of 2"),
        (lambda: datasets.labeled(FAM, 0, seed=0, folder="/tmp"), ValueError, "n must be a positive integer"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_input_is_rejected_clearly(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_out_of_domain_allowed_on_purpose():
    xi = np.array([[2.5, 1.0]])  # p beyond the training domain: allowed when asked for
    sol = FAM.solve(xi, check_domain=False)
    assert sol.ok[0]


def test_quick_mode_env_parsing(monkeypatch):
    monkeypatch.setenv("L2O_QUICK", "1")
    assert runtime.quick_mode()
    monkeypatch.setenv("L2O_QUICK", "0")
    assert not runtime.quick_mode()
    monkeypatch.setenv("L2O_QUICK", "maybe")
    with pytest.raises(ValueError, match="L2O_QUICK='maybe'"):
        runtime.quick_mode()
