"""Runtime helper, the import footprint of l2o_lib, and the neuromancer import shim."""

import subprocess
import sys

import pytest

from l2o_lib import runtime


def test_setup_reads_quick_mode_and_picks(monkeypatch, capsys):
    monkeypatch.setenv("L2O_QUICK", "1")
    rt = runtime.setup(seed=3, torch=False)
    assert rt.quick and rt.pick(full=100, quick=5) == 5 and rt.seed == 3
    assert "mode=quick" in capsys.readouterr().out
    monkeypatch.delenv("L2O_QUICK")
    assert runtime.setup(seed=3, torch=False).pick(full=100, quick=5) == 100


def test_the_setup_cells_quick_field_decides_unless_l2o_quick_is_set(monkeypatch, capsys):
    monkeypatch.delenv("L2O_QUICK", raising=False)
    assert runtime.setup(seed=0, quick=True, torch=False).quick and runtime.quick_mode()
    assert not runtime.setup(seed=0, quick=False, torch=False).quick and not runtime.quick_mode()
    assert not runtime.setup(seed=0, torch=False).quick            # no field, no variable: full mode
    monkeypatch.setenv("L2O_QUICK", "0")                           # CI's and the book's choice wins
    assert not runtime.setup(seed=0, quick=True, torch=False).quick
    assert "L2O_QUICK=0 is set, and wins over the setup cell's QUICK = True" in capsys.readouterr().out
    monkeypatch.setenv("L2O_QUICK", "1")
    assert runtime.setup(seed=0, quick=False, torch=False).quick
    with pytest.raises(ValueError, match="quick must be True, False or None"):
        runtime.setup(seed=0, quick="yes", torch=False)


def test_setup_reports_the_device(capsys):
    rt = runtime.setup(seed=0)
    out = capsys.readouterr().out
    assert f"device={rt.device}" in out and "  torch device: " in out
    assert ("torch sees no GPU" in out) == (rt.device == "cpu")


def test_setup_enables_colabs_widget_manager_in_colab(monkeypatch, capsys):
    import types

    calls = []
    colab, output = types.ModuleType("google.colab"), types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append("on")
    colab.output = output
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    rt = runtime.setup(seed=0, torch=False)
    assert rt.colab and calls == ["on"] and "custom widget manager on" in capsys.readouterr().out
    monkeypatch.delitem(sys.modules, "google.colab")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    runtime.setup(seed=0, torch=False)
    assert calls == ["on"]                                         # outside Colab: not called


def test_seeding_makes_numpy_and_torch_repeatable():
    torch = pytest.importorskip("torch")
    import numpy as np

    runtime.seed_everything(7)
    a = (np.random.rand(3), torch.rand(3))
    runtime.seed_everything(7)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_import_l2o_lib_loads_no_framework():
    out = _run("import sys, l2o_lib, l2o_lib.pretrained, l2o_lib.viz; "
               "print(sorted(m for m in ('torch', 'jax', 'cvxpy', 'casadi', 'neuromancer') if m in sys.modules))")
    assert out.strip() == "[]"


@pytest.mark.slow  # a fresh interpreter imports torch and neuromancer: tens of seconds
def test_neuromancer_shim_imports_without_wandb_and_defers_pyts():
    import importlib.util

    if importlib.util.find_spec("neuromancer") is None:
        pytest.skip("neuromancer not installed")
    code = (
        "import sys, importlib.util\n"
        "from l2o_lib.torch.nm import neuromancer as nm\n"
        "assert hasattr(nm, 'Problem') and hasattr(nm, 'Trainer') and hasattr(nm, 'PenaltyLoss')\n"
        "print('gaf' , 'pyts.image._gaf' in sys.modules)\n"
        "import wandb\n"
        "try:\n    wandb.init\nexcept ImportError as e:\n    print('wandb', e)\n"
        "import pyts.image\n"
        "print('rp', pyts.image.RecurrencePlot.__name__)\n"
    )
    out = _run(code)
    assert "gaf False" in out  # pyts.image was not executed at import
    assert "rp RecurrencePlot" in out  # ... but works when used
    if "wandb wandb.init was used" not in out:  # wandb really installed: the placeholder stays out of the way
        assert "wandb" not in out
