"""The pretrained registry: save/load round trip, checksum, format, and every shipped card is loadable."""

import json

import numpy as np
import pytest

from l2o_lib import pretrained, problems


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.DATA_ENV, str(tmp_path))
    return tmp_path


def _save_mlp(name="tiny_map", fmt=".safetensors"):
    torch = pytest.importorskip("torch")
    from l2o_lib.torch.nets import SolutionMap, to_arrays

    fam = problems.get("nonconvex_2d")
    torch.manual_seed(0)
    model = SolutionMap(fam, hidden=(8,))
    path = pretrained.save(name, to_arrays(model), family=fam, loader="solution_map",
                           description="test", chapter="tests", config=model.config, headline={"gap_mean": 1.0},
                           fmt=fmt)
    return fam, model, path


@pytest.mark.parametrize("fmt", [".safetensors", ".npz"])
def test_round_trip_predicts_the_same(data_dir, fmt):
    torch = pytest.importorskip("torch")
    fam, model, path = _save_mlp(fmt=fmt)
    assert path.suffix == fmt and (data_dir / "tiny_map.json").is_file()
    assert pretrained.available() == ["tiny_map"]
    m = pretrained.load("tiny_map")
    xi = fam.sample(7, seed=2)
    with torch.no_grad():
        expected = model(torch.as_tensor(xi, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(m.predict(xi), expected, rtol=1e-6)
    assert m.card.headline == {"gap_mean": 1.0} and m.problem.name == "nonconvex_2d"
    with pytest.raises(ValueError, match="outside the domain"):
        m.predict(np.array([[5.0, 0.5]]))


def test_checksum_mismatch_is_an_error(data_dir):
    _, _, path = _save_mlp()
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum mismatch for tiny_map.safetensors"):
        pretrained.load("tiny_map")


def test_missing_weights_say_how_to_regenerate(data_dir):
    _, _, path = _save_mlp()
    path.unlink()
    with pytest.raises(FileNotFoundError, match="regenerate with"):
        pretrained.load("tiny_map")


def test_npz_is_read_without_pickle(data_dir):
    np.savez(data_dir / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        pretrained.read_tensors(data_dir / "obj.npz")


def test_save_rejects_bad_names_and_values(data_dir):
    fam = problems.get("nonconvex_2d")
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        pretrained.save("bad name!", {"w": np.ones(2)}, family=fam, loader="solution_map",
                        description="", chapter="")
    with pytest.raises(ValueError, match="not a finite numeric array"):
        pretrained.save("nan_model", {"w": np.array([np.nan])}, family=fam,
                        loader="solution_map", description="", chapter="")


def test_every_shipped_card_is_complete_and_its_file_matches():
    names = pretrained.available()
    for name in names:
        card = pretrained.card(name)
        assert card.name == name and card.file and card.regenerate and card.chapter
        path = pretrained.data_dir() / card.file
        assert path.suffix in (".safetensors", ".npz"), f"{name}: weights must not be pickle"
        assert pretrained.sha256(path) == card.sha256, f"{name}: checksum in the card does not match the file"
        json.loads((pretrained.data_dir() / f"{name}.json").read_text())
