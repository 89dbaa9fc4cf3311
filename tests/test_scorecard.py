"""The scorecard: its JSON schema, figures that come from the run, and the unknown-name error."""

import json

import numpy as np
import pytest

from l2o_lib import pretrained, problems, scorecard

torch = pytest.importorskip("torch")


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    """A registry with a trained tiny model and a deliberately perturbed copy of it."""
    from l2o_lib.torch.nets import SolutionMap, to_arrays
    from l2o_lib.torch.train import fit

    monkeypatch.setenv(pretrained.DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(scorecard.CACHE_ENV, str(tmp_path / "cache"))
    fam = problems.get("nonconvex_2d")
    torch.manual_seed(0)
    xi = fam.sample(256, seed=0)
    ref = fam.solve(xi)
    model = SolutionMap(fam, hidden=(32, 32))
    data = (torch.as_tensor(xi, dtype=torch.float32), torch.as_tensor(ref.x, dtype=torch.float32))
    fit(model, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), data, epochs=60, batch_size=64, lr=3e-3, progress=False)
    arrays = to_arrays(model)
    common = dict(family=fam, loader="l2o_lib.torch.nets:load_solution_map", chapter="tests", config=model.config)
    pretrained.save("tiny", arrays, description="trained", **common)
    bias = [k for k in arrays if k.endswith("bias")][-1]
    perturbed = dict(arrays, **{bias: arrays[bias] + np.float32(0.4)})
    pretrained.save("tiny_perturbed", perturbed, description="output shifted by 0.4", **common)
    return tmp_path


def test_json_schema_and_perturbed_model_scores_worse(registry, capsys):
    out = registry / "card.json"
    rc = scorecard.main(["--n", "40", "--json", str(out), "--time-ref", "5"])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == "l2o-book/scorecard/1" and doc["n"] == 40 and doc["seed"] == scorecard.DEFAULT_SEED
    assert {"python", "numpy", "torch", "cpu_count", "torch_threads"} <= set(doc["environment"])
    rows = {m["model"]: m for m in doc["models"]}
    assert set(rows) == {"tiny", "tiny_perturbed"}
    for m in rows.values():
        for key in ("gap_mean", "gap_max", "eq_mean", "eq_max", "ineq_mean", "ineq_max", "time_per_instance",
                    "speedup", "reference_time", "problem", "chapter", "n"):
            assert key in m, key
        assert m["n"] == 40 and m["time_per_instance"] > 0 and m["reference_time"] > 0
        assert m["speedup"] == pytest.approx(m["reference_time"] / m["time_per_instance"])
    assert rows["tiny_perturbed"]["gap_mean"] > rows["tiny"]["gap_mean"] + 1.0
    assert "| tiny_perturbed |" in capsys.readouterr().out
    # the second run reads the cached reference solves
    entries = scorecard.run(["tiny"], n=40, time_ref=5, progress=False)
    assert entries[0].reference_cached and entries[0].row.gap_mean == pytest.approx(rows["tiny"]["gap_mean"])


def test_unknown_name_is_a_clear_error(registry, capsys):
    assert scorecard.main(["--only", "nope", "--n", "5"]) == 2
    assert "unknown model(s) ['nope']" in capsys.readouterr().err
    with pytest.raises(KeyError, match="registered: \\['tiny', 'tiny_perturbed'\\]"):
        scorecard.run(["nope"])


def test_reference_solves_on_a_process_pool_equal_the_serial_ones(registry):
    """``--executor`` reaches ``family.solve``: both runs solve afresh (separate caches) and agree bit for bit."""
    rows = {}
    for executor in scorecard.EXECUTORS:
        folder = registry / f"cache_{executor}"
        (entry,) = scorecard.run(["tiny"], n=40, time_ref=2, progress=False, folder=folder, executor=executor)
        assert not entry.reference_cached
        rows[executor] = entry.row
        assert scorecard.main(["--only", "tiny", "--n", "40", "--time-ref", "2", "--executor", executor,
                               "--cache-dir", str(folder), "--json", str(registry / f"{executor}.json")]) == 0
    serial, pool = rows["serial"], rows["processes"]
    assert (serial.gap_mean, serial.gap_max, serial.ineq_max) == (pool.gap_mean, pool.gap_max, pool.ineq_max)


def test_executor_is_checked_before_any_scoring(registry, capsys):
    with pytest.raises(ValueError, match="executor must be one of \\('serial', 'processes'\\).*got 'threads'"):
        scorecard.run(["tiny"], n=5, executor="threads")
    with pytest.raises(SystemExit) as exc:
        scorecard.main(["--only", "tiny", "--n", "5", "--executor", "threads"])
    assert exc.value.code == 2 and "--executor: invalid choice: 'threads'" in capsys.readouterr().err
    assert not (registry / "cache").exists()  # nothing was solved
