"""The scaling study: exponent fits and crossovers on data with known answers, batch saturation, the JSON
schema, and the quick sweep end to end through its command line."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from l2o_lib import scaling

ROOT = Path(__file__).resolve().parent.parent


def _doc(size=(), batch=(), accuracy=()):
    return {"schema": scaling.SCHEMA, "mode": "test", "config": {}, "environment": {}, "seconds": 1.0,
            "size": list(size), "size_skipped": [], "batch": list(batch), "batch_skipped": [], "accuracy": list(accuracy)}


def _row(family, method, kind, n, t, **extra):
    return {"family": family, "method": method, "kind": kind, "n": n, "time_per_instance": t, "peak_mb": 0.0,
            "batch": extra.pop("batch", 1), **extra}


def test_fit_recovers_a_known_exponent_and_its_uncertainty():
    n = np.array([10, 30, 100, 300, 1000, 3000], dtype=float)
    exact = scaling.fit_exponent(n, 3e-6 * n**1.7)
    assert exact["alpha"] == pytest.approx(1.7, abs=1e-12) and exact["c"] == pytest.approx(3e-6, rel=1e-9)
    assert exact["se"] == pytest.approx(0.0, abs=1e-12) and exact["points"] == 6
    rng = np.random.default_rng(0)
    alphas, ses = [], []
    for _ in range(400):
        fit = scaling.fit_exponent(n, 3e-6 * n**1.7 * np.exp(0.2 * rng.standard_normal(len(n))))
        alphas.append(fit["alpha"])
        ses.append(fit["se"])
    # the reported standard error is the spread of the slope over noisy repetitions (within sampling error)
    assert np.mean(alphas) == pytest.approx(1.7, abs=0.02)
    assert np.std(alphas) == pytest.approx(np.sqrt(np.mean(np.square(ses))), rel=0.15)
    assert math.isnan(scaling.fit_exponent([10, 100], [1.0, 10.0])["se"])
    assert scaling.fit_exponent([10, 100], [1.0, 10.0])["alpha"] == pytest.approx(1.0)


@pytest.mark.parametrize("n, t, match", [([10, 10], [1.0, 2.0], "two distinct"), ([10, 100], [1.0, 0.0], "positive"),
                                         ([10, 100], [1.0], "one length")])
def test_fit_rejects_bad_input(n, t, match):
    with pytest.raises(ValueError, match=match):
        scaling.fit_exponent(n, t)


def test_crossover_of_two_power_laws_is_where_they_meet():
    n = np.array([10.0, 30.0, 300.0, 1000.0])
    learned, solver = 1e-4 * n, 1e-6 * n**2          # equal at n = 100, learned cheaper above
    assert scaling.crossover(n, learned, solver) == [pytest.approx(100.0)]
    assert scaling.crossover(n, learned, 10 * learned) == []
    with pytest.raises(ValueError, match="increasing"):
        scaling.crossover(n[::-1], learned, solver)


def test_crossovers_from_a_document_measured_and_extrapolated():
    sizes = [10, 100, 1000]
    rows = [_row("qp", "solver", "solver", n, 1e-6 * n**2, solver_time_per_instance=1e-7 * n**2) for n in sizes]
    rows += [_row("qp", "net", "learned", n, 1e-4 * n) for n in sizes]
    rows += [_row("qp", "slow net", "learned", n, 1e-4 * n**1.5) for n in sizes]
    rows += [_row("qp", "slowest net", "learned", n, 1e-2 * n**1.5) for n in sizes]
    doc = scaling.validate(_doc(size=rows))
    by = {c["method"]: c for c in scaling.crossovers(doc)}
    assert by["net"]["crossings"] == [pytest.approx(100.0)]
    assert by["net"]["ratio_first"] == pytest.approx(10.0) and by["net"]["ratio_last"] == pytest.approx(0.1)
    # 1e-4 n^1.5 = 1e-6 n^2 at n = 1e4: outside the measured range, from the fits; 1e-2 n^1.5 only at 1e8,
    # beyond the extrapolation limit
    assert by["slow net"]["crossings"] == [] and by["slow net"]["extrapolated"] == pytest.approx(1e4, rel=1e-6)
    assert by["slowest net"]["crossings"] == [] and by["slowest net"]["extrapolated"] is None
    solver_time = {c["method"]: c for c in scaling.crossovers(doc, time="solver")}
    assert solver_time["net"]["crossings"] == [pytest.approx(1000.0)]
    exps = {(e["method"], e["time"]): e["alpha"] for e in scaling.exponents(doc)}
    assert exps[("solver", "wall")] == pytest.approx(2.0) and exps[("solver", "solver")] == pytest.approx(2.0)
    assert exps[("net", "wall")] == pytest.approx(1.0) and ("net", "solver") not in exps
    table = scaling.crossover_table(doc)
    assert "| qp | net | solver | 10 | 0.1 | 100 |" in table and "1e+04" in table


def test_saturation_finds_the_batch_at_ninety_percent_of_the_best_throughput():
    batches = [1, 10, 100, 1000, 10000]
    per = [1e-3, 1.5e-4, 1.05e-5, 1e-5, 1.02e-5]      # best at 1000; 100 is within 90 % of it
    doc = _doc(batch=[_row("qp", "net", "learned", 10, t, batch=b) for b, t in zip(batches, per)])
    (s,) = scaling.saturation(doc)
    assert s["best_batch"] == 1000 and s["batch_90"] == 100 and not s["at_largest"]
    assert s["speedup_vs_batch_1"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="level"):
        scaling.saturation(doc, level=0)
    doc["size"] = [_row("qp", "slow solver", "solver", 10, 1e-2), _row("qp", "fast solver", "solver", 10, 2e-3),
                   _row("qp", "fast solver", "solver", 30, 1e-4)]
    (one,) = scaling.batch_one(doc)  # batch 1 of the net (1e-3 s) against the fastest solver at n = 10
    assert one["solver"] == "fast solver" and one["ratio"] == pytest.approx(0.5)


def test_validate_names_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="schema"):
        scaling.validate({"schema": "other"})
    bad = _doc(size=[_row("qp", "net", "learned", 10, 0.0)])
    with pytest.raises(ValueError, match=r"size\[0\].*time"):
        scaling.validate(bad)
    with pytest.raises(FileNotFoundError, match="python -m l2o_lib.scaling"):
        scaling.load(tmp_path / "missing.json")


def test_extrapolation_and_widths():
    from l2o_lib.scaling import methods, sweep

    assert sweep.extrapolate([10, 100], [1.0, 100.0], 1000) == pytest.approx(1e4)
    assert sweep.extrapolate([10], [1.0], 1000) is None
    assert methods.width(100, 100, 256) == 256 and methods.width(10, 100, 256) == 256
    assert methods.width(10_000, 100, 256) == methods.MAX_WIDTH
    with pytest.raises(KeyError, match="no size rule"):
        methods.family_at("nonconvex_2d", 10)
    fam = methods.family_at("dc3_qp", 40)
    assert (fam.n_vars, fam.n_eq, fam.n_ineq) == (40, 20, 20)
    mpc = methods.family_at("mpc", 30)
    assert (mpc.horizon, mpc.n_vars) == (10, 30)


def test_methods_follow_capabilities_and_osqp_warm_start_uses_the_previous_solution():
    from l2o_lib.scaling import methods, sweep

    mpc = methods.family_at("mpc", 15)
    names = [m.name for m in methods.methods_for(mpc)]
    # OSQP's form gives the OSQP session and the warm-start net; no standard form, so no DC3 or HUANet
    assert names == ["Clarabel", "OSQP", "OSQP warm", "direct MLP", "warm-start net"]
    assert "warm-start net" not in [m.name for m in methods.methods_for(methods.family_at("dc3_qp", 10))]
    predict, config = methods.LEARNED["warm-start net"][1](mpc)
    xi = mpc.sample(4, seed=0)
    assert predict(xi).shape == (4, mpc.n_vars + mpc.n_eq + mpc.n_vars) and config["hidden"] == [128, 128]
    # the same state three times: warm-started from its own solution OSQP stops at once, cold it iterates
    same = np.repeat(xi[:1], 3, axis=0)
    cfg = sweep.Config(solver_instances=2, cell_seconds=0.01)
    by = {m.name: sweep.measure_solver(mpc, m, same, cfg) for m in methods.methods_for(mpc) if m.kind == "solver"}
    assert by["OSQP warm"]["iterations"] < by["OSQP"]["iterations"]
    assert by["OSQP warm"]["solved"] == by["OSQP"]["solved"] == by["Clarabel"]["solved"] == 2


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scaling") / "scaling.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "l2o_lib.scaling", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(proc.stdout.splitlines()[-1])
    return out


def test_quick_sweep_end_to_end(quick_run):
    from l2o_lib.scaling import sweep

    doc = scaling.load(quick_run)
    cfg = sweep.QUICK
    assert doc["mode"] == "quick" and doc["environment"]["load_average"] is not None
    assert scaling.families(doc) == list(cfg.families)
    kinds = {r["kind"] for r in doc["size"]}
    assert kinds == {"solver", "learned", "classical"}
    for r in doc["size"]:
        if r["kind"] == "solver":
            assert r["solved"] == r["instances"] >= 2, r
            assert 0 < r["solver_time_per_instance"] <= r["time_per_instance"] * 1.5, r
        else:
            assert 1 <= r["batch"] <= cfg.batch_at(r["n"]) and r["config"], r
    # every method measured at every quick size (nothing is over the quick budget at 10-30 variables)
    for fam in cfg.families:
        for method, _ in scaling.methods_of(doc, fam):
            measured = sorted(r["n"] for r in doc["size"] if r["family"] == fam and r["method"] == method)
            assert measured == list(cfg.sizes_for(fam)), (fam, method)
    # the MPC QP: its own Clarabel, OSQP through a session cold and warm, and the two networks, at n = 3·horizon
    mpc = [r for r in doc["size"] if r["family"] == "mpc"]
    assert [m for m, _ in scaling.methods_of(doc, "mpc")] == ["Clarabel", "OSQP", "OSQP warm", "direct MLP",
                                                             "warm-start net"]
    assert all(r["n_vars"] == r["n"] == 3 * r["n_eq"] / 2 for r in mpc)
    osqp = [r for r in mpc if r["method"].startswith("OSQP")]
    assert all(r["iterations"] >= 1 and r["setup_seconds"] > 0 and r["eps"] == 1e-3 for r in osqp)
    assert {r["warm_start"] for r in osqp} == {True, False}
    assert {(r["family"], r["batch"]) for r in doc["batch"]} == {(f, b) for f in cfg.batch_family for b in cfg.batches}
    assert all(s["batch_90"] in cfg.batches for s in scaling.saturation(doc))
    assert [r["n"] for r in doc["accuracy"]] == list(cfg.accuracy_sizes)
    for r in doc["accuracy"]:
        assert r["eq_max"] < 1e-8 and np.isfinite(r["gap_mean"]) and r["train_seconds"] > 0
    assert scaling.exponents(doc) and scaling.crossovers(doc)
    for name in ("scaling_size.png", "scaling_batch.png", "scaling_accuracy.png"):
        assert (quick_run.parent / name).stat().st_size > 1000
    assert json.loads(quick_run.read_text())["schema"] == scaling.SCHEMA


def test_recorded_sweep_is_valid_and_covers_the_range():
    path = scaling.default_path()
    if not path.is_file():
        pytest.skip("no recorded sweep yet (python -m l2o_lib.scaling)")
    doc = scaling.load(path)
    assert doc["mode"] == "full"
    assert max(r["n"] for r in doc["size"]) >= 1000 and min(r["n"] for r in doc["size"]) <= 10
    assert max(r["batch"] for r in doc["batch"]) >= 10_000
    assert len(doc["accuracy"]) >= 3
    mpc = {r["method"]: r["n"] for r in doc["size"] if r["family"] == "mpc"}
    assert {"Clarabel", "OSQP", "OSQP warm", "warm-start net", "direct MLP"} <= set(mpc) and max(mpc.values()) >= 300


def test_tables_carry_the_computed_figures():
    sizes = [10, 100, 1000]
    rows = [_row("qp", "Clarabel", "solver", n, 1e-6 * n**2, solver_time_per_instance=5e-7 * n**2,
                 first_call_seconds=0.5) for n in sizes]
    rows += [_row("qp", "net", "learned", n, 1e-4 * n, peak_mb=float(n)) for n in sizes]
    doc = _doc(size=rows)
    summary = scaling.summary_table(doc)
    assert "| qp | net | learned | 1.00 | 0.00 | n ≈ 100 |" in summary
    assert "| qp | Clarabel | solver | 2.00 |" in summary
    assert "| qp | Clarabel | 1000 | 500 ms | 1e+03 ms | 2 | 0.50 s |" in scaling.overhead_table(doc)
    assert "| qp | net | 1000 (1) | 1e+03 | — | — |" in scaling.memory_table(doc)
    assert scaling.skipped_table(doc) == "_nothing skipped in the size sweep_"
    with pytest.raises(ValueError, match="section"):
        scaling.skipped_table(doc, "accuracy")
