"""Metrics against hand-computed values, and the timing helper."""

import time

import numpy as np
import pytest

from l2o_lib import metrics, problems


def test_gap_percent_by_hand():
    g = metrics.gap_percent([1.1, 0.5, -3.0, 2.0], [1.0, 0.0, -2.0, 4.0])
    # |1.1-1|/1, |0.5-0|/max(0,1), |-3+2|/2, |2-4|/4
    np.testing.assert_allclose(g, [10.0, 50.0, 50.0, 50.0])


def test_violations_by_hand():
    fam = problems.get("nonconvex_2d")
    xi = np.array([[1.0, 1.0], [1.0, 1.0]])
    # row 0: r² = 0.04 < (p/2)² = 0.25 -> violation 0.21; x₂ - x₁ = 0 fine
    # row 1: r² = 1.25 > p² = 1 -> 0.25; x₂ - x₁ = 0.5 -> 0.5 -> max 0.5
    x = np.array([[0.2, 0.0], [0.5, 1.0]])
    eq, ineq = metrics.violations(fam, x, xi)
    np.testing.assert_allclose(eq, [0.0, 0.0])
    np.testing.assert_allclose(ineq, [0.21, 0.5])


def test_evaluate_against_reference_and_failed_rows():
    fam = problems.get("nonconvex_2d")
    xi = fam.sample(6, seed=0)
    ref = fam.solve(xi).require_ok()
    row = metrics.evaluate(fam, ref.x, xi, ref, method="reference itself")
    assert row.gap_max < 1e-9 and row.ineq_max < 1e-7 and row.n == 6 and row.failed == 0
    bad = ref.x.copy()
    bad[0] = np.nan
    bad[1] += 0.3
    row = metrics.evaluate(fam, bad, xi, ref, method="perturbed", time_per_instance=1e-4)
    assert row.failed == 1 and row.n == 5
    assert row.gap_max > 0.1
    assert row.speedup == pytest.approx(np.mean(ref.solve_time) / 1e-4)


def test_compare_builds_the_results_table():
    fam = problems.get("nonconvex_2d")
    xi = fam.sample(8, seed=5)
    ref = fam.solve(xi)
    table = metrics.compare(fam, {"origin": lambda z: np.zeros((len(z), 2)), "ref": lambda z: ref.x}, xi, ref)
    md = table.to_markdown()
    assert md.count("\n|") >= 5 and "origin" in md and "gap %" in md
    assert table["ref"].gap_max < 1e-9
    assert table["origin"].ineq_mean > 0  # the origin lies inside the inner circle
    assert {r["method"] for r in table.to_dicts()} >= {"origin", "ref"}


def test_timeit_takes_the_median_after_warmup(monkeypatch):
    """On a scripted clock (no wall-clock inequality): warm-up calls are not timed, the median of the rest is."""
    durations = iter([5.0, 0.3, 0.1, 0.2])          # call 1 is warm-up; calls 2-4 take 0.3, 0.1, 0.2 s
    now = {"t": 0.0, "calls": []}
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: now["t"])

    def work(tag):
        now["calls"].append(tag)
        now["t"] += next(durations)

    assert metrics.timeit(work, "x", warmup=1, repeat=3) == pytest.approx(0.2)
    assert now["calls"] == ["x"] * 4


def test_timeit_times_a_real_call():
    t = metrics.timeit(time.sleep, 0.01, warmup=0, repeat=3)
    print(f"timeit(sleep(0.01)) = {t * 1e3:.2f} ms")   # printed, not bounded: the machine may be loaded
    assert t >= 0.0099                                # sleep never returns early, so the median cannot be below it


def test_per_instance_marks_failures_nan():
    fam = problems.get("entropy")
    xi = fam.sample(4, seed=0)
    ref = fam.solve(xi)
    x = ref.x.copy()
    x[2] = np.inf
    out = metrics.per_instance(fam, x, xi, ref)
    assert np.isnan(out["gap"][2]) and np.all(np.isfinite(out["gap"][[0, 1, 3]]))


def test_compare_takes_a_reference_time_measured_in_the_run():
    fam = problems.get("nonconvex_2d")
    xi = fam.sample(20, seed=3)
    ref = fam.solve(xi)
    table = metrics.compare(fam, {"reference itself": lambda x: ref.x}, xi, ref, reference_time=0.5, repeat=1)
    assert table.rows[0].time_per_instance == 0.5
    row = table["reference itself"]
    assert abs(row.speedup - 0.5 / row.time_per_instance) < 1e-9 * row.speedup
    with pytest.raises(ValueError, match="reference_time"):
        metrics.compare(fam, {"x": lambda x: ref.x}, xi, ref, reference_time=-1.0)
