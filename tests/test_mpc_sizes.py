"""The MPC size sweep: its JSON schema, ratios, the target verdict and crossovers on documents with known answers,
and the quick sweep end to end through its command line."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from l2o_lib import mpc_sizes
from l2o_lib.mpc_sizes import DAQP_OWN, DAQP_WALL, EXPLICIT, NEAREST, PIPELINE

ROOT = Path(__file__).resolve().parent.parent


def _times(pipe, daqp, seq=None, tree=None):
    t = {PIPELINE: {"batched": pipe, "one": {"mean": 3 * pipe}}, NEAREST: {"batched": 2 * pipe, "one": {"mean": 6 * pipe}},
         DAQP_OWN: {"batched": None, "one": {"mean": daqp}}, DAQP_WALL: {"batched": None, "one": {"mean": 5 * daqp}}}
    if seq is not None:
        t[EXPLICIT[0]] = {"batched": seq, "one": {"mean": 3 * seq}}
    if tree is not None:
        t[EXPLICIT[1]] = {"batched": tree, "one": {"mean": 3 * tree}}
    return t


def _size(system, N, pipe, daqp, seq=None, tree=None, first=0.95, certified=1.0):
    complete = seq is not None
    return {"system": system, "horizon": N, "nx": 2, "nu": 1, "n_train": 100, "n_test": 10, "strategies": 10 * N,
            "classifier": {"top1": first, "first_certified": first, "certified": certified},
            "nearest": {"first_certified": 0.9, "certified": 1.0},
            "partition": {"regions": 20 * N, "complete": complete, "time_limit": 60.0},
            "tree": None, "storage_bytes": {PIPELINE: 1000, NEAREST: 2000, EXPLICIT[0]: 500},
            "time": _times(pipe, daqp, seq, tree), "load_average": [0.1, 0.1, 0.1]}


def _doc(sizes):
    return {"schema": mpc_sizes.SCHEMA, "mode": "test", "config": {}, "environment": {}, "seconds": 1.0,
            "sizes": list(sizes)}


def test_ratios_and_target_name_what_fails():
    doc = mpc_sizes.validate(_doc([
        _size("di", 10, pipe=1e-6, daqp=2e-6, seq=1e-6, tree=2e-7),          # slower than the tree: not met
        _size("di", 40, pipe=1e-6, daqp=2e-5, seq=5e-6, tree=4e-6),          # met: 20× DAQP, 4× the tree
        _size("di", 80, pipe=1e-6, daqp=2e-5, seq=5e-6, tree=4e-6, first=0.8),
        _size("tank", 10, pipe=1e-6, daqp=2e-5),                             # no partition
    ]))
    q = {r["horizon"] if r["system"] == "di" else -1: r for r in mpc_sizes.ratios(doc)}
    assert q[10]["batched_vs_daqp_own"] == pytest.approx(2.0) and q[10]["batched_vs_explicit"] == pytest.approx(0.2)
    assert q[10]["explicit_batched"] == EXPLICIT[1]
    assert q[40]["one_vs_daqp_wall"] == pytest.approx(5 * 2e-5 / 3e-6)
    assert q[-1]["batched_vs_explicit"] is None
    verdict = {(t["system"], t["horizon"], t["mode"]): t for t in mpc_sizes.target(doc)}
    assert verdict["di", 40, "batched"]["met"] and verdict["di", 40, "one"]["met"]  # 6.7× and 4× one state per call
    assert verdict["di", 10, "batched"]["reasons"] == ["only 2× DAQP's own time", "only 0.2× explicit MPC"]
    assert verdict["di", 80, "batched"]["reasons"] == ["first candidate certified 80.0%"]
    assert "no explicit MPC" in verdict["tank", 10, "batched"]["reasons"][0]
    # the pipeline's curve crosses DAQP's own time between N = 10 and 40 (log-log interpolation), not the tree's
    cross = {c["baseline"]: c for c in mpc_sizes.crossovers(doc) if c["system"] == "di"}
    assert cross[DAQP_OWN]["crossings"] == [] and cross[DAQP_OWN]["ratio_first"] == pytest.approx(2.0)
    assert len(cross[EXPLICIT[1]]["crossings"]) == 1 and 10 < cross[EXPLICIT[1]]["crossings"][0] < 40
    table = mpc_sizes.table(doc)
    assert "| di | 40 | 400 | 800 | 95.0% | 95.0% | 100% |" in table
    assert "≥ 200 (stopped at 60 s)" in table


def test_validate_names_what_is_wrong(tmp_path):
    good = _doc([_size("di", 10, pipe=1e-6, daqp=2e-6, seq=1e-6)])
    mpc_sizes.validate(good)
    for breaks, match in ((lambda d: d.update(schema="x"), "not a"), (lambda d: d.pop("sizes"), "lacks"),
                          (lambda d: d["sizes"][0].pop("classifier"), "lacks"),
                          (lambda d: d["sizes"][0]["time"][PIPELINE].update(batched=0.0), "positive"),
                          (lambda d: d["sizes"][0]["time"].pop(EXPLICIT[0]), "no explicit MPC time"),
                          (lambda d: d["sizes"][0]["time"].update(foo={"batched": 1.0, "one": {"mean": 1.0}}), "unknown")):
        bad = copy.deepcopy(good)
        breaks(bad)
        with pytest.raises(ValueError, match=match):
            mpc_sizes.validate(bad)
    with pytest.raises(FileNotFoundError, match="mpc_sizes"):
        mpc_sizes.load(tmp_path / "missing.json")


def test_plot_draws_every_method():
    import matplotlib

    matplotlib.use("Agg")
    doc = _doc([_size("di", 10, pipe=1e-6, daqp=2e-6, seq=1e-6, tree=2e-7), _size("di", 20, pipe=1e-6, daqp=4e-6)])
    axes = mpc_sizes.plot_sizes(doc)
    labels = [line.get_label() for line in axes[0][0].lines]
    assert labels == [PIPELINE, NEAREST, DAQP_OWN, DAQP_WALL, *EXPLICIT]
    # the tree was measured at N = 10 only: one point
    assert len(axes[0][0].lines[-1].get_xdata()) == 1


@pytest.mark.slow
def test_quick_sweep_end_to_end(tmp_path):
    out = tmp_path / "mpc_sizes.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "l2o_lib.mpc_sizes", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = mpc_sizes.load(out)
    from l2o_lib.mpc_sizes import sweep

    cfg = sweep.QUICK
    assert doc["mode"] == "quick" and doc["environment"]["load_average"] is not None
    assert [(r["system"], r["horizon"]) for r in doc["sizes"]] == [(s, n) for s, hs in cfg.horizons.items() for n in hs]
    for r in doc["sizes"]:
        assert r["n_test"] == cfg.n_test and r["strategies"] >= 1
        # every answer certified, and every method's u₀ equal to DAQP's
        assert r["classifier"]["certified"] == r["nearest"]["certified"] == 1.0
        assert r["classifier"]["u0_max_error"] < 1e-7 and r["nearest"]["u0_max_error"] < 1e-7
        p = r["partition"]
        assert p["complete"] and p["test_outside"] == 0 and p["u0_max_error"] < 1e-8, p
        assert r["tree"]["u0_max_error"] < 1e-8 and not r["tree"]["truncated"]
        assert set(r["time"]) == set(mpc_sizes.METHODS)
        assert np.isfinite(r["daqp_iterations"])
    assert (tmp_path / "mpc_sizes.png").stat().st_size > 1000
    assert json.loads(out.read_text())["schema"] == mpc_sizes.SCHEMA
    assert "wrote" in proc.stdout.splitlines()[-1]


def test_recorded_sweep_is_valid():
    path = mpc_sizes.default_path()
    if not path.is_file():
        pytest.skip("no recorded sweep yet (python -m l2o_lib.mpc_sizes)")
    doc = mpc_sizes.load(path)
    assert doc["mode"] == "full"
    assert {r["system"] for r in doc["sizes"]} == {"double_integrator", "quadruple_tank"}
    assert sorted(r["horizon"] for r in doc["sizes"] if r["system"] == "double_integrator") == [5, 10, 20, 40]
    for r in doc["sizes"]:
        # every answer is DAQP's or a certified law's; at N = 40 DAQP's own answers miss the chapter's absolute
        # stationarity tolerance (1e-8) against multipliers of order 1e3, so fewer fallbacks count as certified
        assert r["classifier"]["u0_max_error"] < 1e-6 and r["nearest"]["u0_max_error"] < 1e-6
        assert r["classifier"]["certified"] == 1.0 or r["horizon"] >= 40, r["classifier"]
        if r["partition"]["complete"]:
            # explicit MPC's u₀ against DAQP's: 1e-11 up to N = 20, a few 1e-8 at N = 40 (both solve a condensed QP
            # whose Hessian carries the unstable mode's 1.2^40)
            assert r["partition"]["test_outside"] == 0 and r["partition"]["u0_max_error"] < 1e-7
