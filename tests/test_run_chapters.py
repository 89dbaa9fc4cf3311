"""scripts/run_chapters.py on two tiny generated notebooks: one passes, one fails; times are recorded and merged."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("run_chapters", ROOT / "scripts" / "run_chapters.py")
rc = importlib.util.module_from_spec(_spec)
sys.modules["run_chapters"] = rc
_spec.loader.exec_module(rc)


def _notebook(path: Path, *cells: str, title: str = "# Tiny") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(title)] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def folder(tmp_path):
    _notebook(tmp_path / "01_ok.ipynb", "import os\nassert os.environ['L2O_QUICK'] == '1'", "x = 2 + 2",
              title="# 1. Passing\n\n**Prerequisites:** none. More text.\n\n```{exercise} Add\n:label: ch1-ex1\nAdd.\n```\n"
                    "```{solution} ch1-ex1\n:class: dropdown\n4\n```")
    _notebook(tmp_path / "02_bad.ipynb", "y = 1", "raise RuntimeError('boom in cell two')", "z = 3", title="# 2. Failing")
    return tmp_path


def test_runs_records_merges_and_reports(folder, tmp_path, capsys):
    js = tmp_path / "times.json"
    other = {"schema": rc.SCHEMA, "runs": {"full/gpu": {"mode": "full", "kind": "gpu", "device": {"kind": "gpu"},
                                                        "notebooks": {"01_ok.ipynb": {"ok": True, "seconds": 9.0}}}}}
    js.write_text(json.dumps(other))
    report = tmp_path / "report.md"
    code = rc.main(["--quick", "--folder", str(folder), "--json", str(js), "--report", str(report), "--timeout", "60"])
    assert code == 1  # a notebook failed: non-zero exit, as the weekly workflow expects

    data = json.loads(js.read_text())
    assert data["runs"]["full/gpu"]["notebooks"]["01_ok.ipynb"]["seconds"] == 9.0  # the other mode/device is kept
    key = f"quick/{rc.describe_device()['kind']}"
    run = data["runs"][key]
    ok, bad = run["notebooks"]["01_ok.ipynb"], run["notebooks"]["02_bad.ipynb"]
    assert ok["ok"] and ok["error"] is None and 0 < ok["seconds"] < 60
    assert ok["slowest_cell"]["cell"] in (1, 2)
    assert not bad["ok"] and bad["cell"] == 2 and "RuntimeError: boom in cell two" in bad["error"]
    assert run["device"]["cores"] >= 1 and run["device"]["cpu"]

    text = report.read_text()
    assert "1 of 2 notebooks failed: 02_bad.ipynb" in text and "boom in cell two" in text

    # a second run of only the passing notebook keeps the failing notebook's record
    assert rc.main(["--quick", "01", "--folder", str(folder), "--json", str(js), "--timeout", "60"]) == 0
    again = json.loads(js.read_text())["runs"][key]["notebooks"]
    assert set(again) == {"01_ok.ipynb", "02_bad.ipynb"} and not again["02_bad.ipynb"]["ok"]


def test_pages_are_generated_from_the_records(folder, tmp_path):
    records = rc.merge({"schema": rc.SCHEMA, "runs": {}}, "quick", {"kind": "cpu", "cpu": "Test CPU", "cores": 2},
                       {"01_ok.ipynb": {"ok": True, "seconds": 12.3, "cell": None, "error": None,
                                        "slowest_cell": {"cell": 1, "seconds": 70.0}}})
    out = tmp_path / "gen"
    rc.write_pages(records, folder, out)
    times = (out / "run_times.md").read_text()
    assert "| {doc}`1. Passing </chapters/01_ok>` | none | 12 s |" in times and "Test CPU, 2 cores" in times
    assert "not measured" in times  # 02_bad has no record
    assert "Not recorded yet: CPU full mode, GPU." in times and "GPU (" not in times.split("\n")[1]
    rc.merge(records, "full", {"kind": "gpu", "torch_cuda": "Test GPU", "cpu": "Host", "cores": 8},
             {"01_ok.ipynb": {"ok": True, "seconds": 4.0}})
    rc.write_pages(records, folder, out)
    times = (out / "run_times.md").read_text()
    assert "| CPU, quick mode | GPU (full mode) |" in times and "| 12 s | 4 s |" in times and "Test GPU" in times
    ex = (out / "exercises.md").read_text()
    assert "`ch1-ex1`" in ex and "dropdown below {ref}`ch1-ex1`" in ex
    assert "01_ok.ipynb (cell 1, 70 s)" in (out / "workshop_times.md").read_text()


def test_bad_input():
    with pytest.raises(ValueError, match="mode must be"):
        rc.merge({"schema": rc.SCHEMA, "runs": {}}, "fast", {"kind": "cpu"}, {})
    with pytest.raises(SystemExit, match="no notebook"):
        rc.notebooks(ROOT / "chapters", ["99_nothing"])
