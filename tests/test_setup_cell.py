"""The chapters' setup cell, run as Colab would run it (a google.colab module present) against local folders:
it clones once, explains a failed clone and a failed pip install, and retries what failed on the next run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = nbformat.read(ROOT / "chapters" / "01_what_is_l2o.ipynb", as_version=4).cells[1].source
HEAD = SETUP.split("# ---- imports, seed, device, quick mode\n")[0]
REPO_LINE = next(line for line in HEAD.splitlines() if line.startswith("REPO, BOOK = "))


def _run(tmp_path: Path, repo: str, book: Path, *, module: str = "l2o_lib") -> subprocess.CompletedProcess:
    """The setup cell's Colab branch with REPO/BOOK pointing at local paths and ``module`` as the installed check."""
    assert 'find_spec("l2o_lib")' in HEAD
    src = HEAD.replace(REPO_LINE, f"REPO, BOOK = {repo!r}, {str(book)!r}").replace(
        'find_spec("l2o_lib")', f"find_spec({module!r})")
    driver = tmp_path / "driver.py"
    driver.write_text("import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n" + src +
                      "\nprint('L2O_DATA_DIR=' + os.environ['L2O_DATA_DIR'])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def origin(tmp_path):
    repo = tmp_path / "origin"
    repo.mkdir()
    (repo / "README.md").write_text("book\n")
    for cmd in (["init", "-q"], ["add", "README.md"],
                ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, capture_output=True)
    return repo


def test_clones_once_and_skips_the_install_when_l2o_lib_is_importable(tmp_path, origin):
    book = tmp_path / "book"
    first = _run(tmp_path, f"file://{origin}", book, module="os")
    assert first.returncode == 0, first.stderr
    assert "Fetching the book" in first.stdout and (book / "README.md").read_text() == "book\n"
    assert f"L2O_DATA_DIR={book}/data" in first.stdout and "Installing" not in first.stdout
    again = _run(tmp_path, f"file://{origin}", book, module="os")
    assert again.returncode == 0 and "Fetching" not in again.stdout      # idempotent: no second clone


def test_a_failed_clone_says_what_to_check(tmp_path):
    r = _run(tmp_path, str(tmp_path / "no-such-repository"), tmp_path / "book")
    assert r.returncode != 0
    assert "RuntimeError: Could not clone" in r.stderr and "no network, or a wrong URL?" in r.stderr and "half-made" in r.stderr
    assert "does not exist" in r.stderr or "not appear to be a git repository" in r.stderr  # git's own words


def test_a_failed_install_says_so_and_is_retried_on_the_next_run(tmp_path, origin):
    book = tmp_path / "book"
    subprocess.run(["git", "clone", "-q", str(origin), str(book)], check=True, capture_output=True)
    # the clone has no pyproject.toml: pip fails at once, offline
    for _ in range(2):  # a second run installs again instead of skipping to the imports
        r = _run(tmp_path, f"file://{origin}", book, module="l2o_lib_not_installed")
        assert r.returncode != 0 and "Installing l2o_lib" in r.stdout
        assert "RuntimeError: pip could not install l2o_lib" in r.stderr and "pip said:" in r.stderr
        assert "Python project" in r.stderr or "setup.py" in r.stderr     # pip's own reason


def test_sync_setup_cell_brings_an_old_style_chapter_to_the_convention(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_setup_cell", ROOT / "scripts" / "sync_setup_cell.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    current = ROOT / "chapters" / "02_supervised_vs_self_supervised.ipynb"
    nb = nbformat.read(current, as_version=4)
    old = tmp_path / current.name
    old_nb = nbformat.read(current, as_version=4)
    old_nb.cells[0].source = old_nb.cells[0].source.replace("/students/", "/chapters/")
    old_nb.cells[1].source = ("# Setup (an older version)\nimport os\n" + sync.MARK +
                              old_nb.cells[1].source.split(sync.MARK)[1].replace(", quick=QUICK", ""))
    old_nb.cells[1].metadata = {}
    nbformat.write(old_nb, old)
    assert sync.sync(old, sync.canonical_head())
    new = nbformat.read(old, as_version=4)
    assert new.cells[1].source == nb.cells[1].source and new.cells[0].source == nb.cells[0].source
    assert new.cells[1].metadata["tags"] == ["hide-input"]
    assert not sync.sync(old, sync.canonical_head())                     # idempotent
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):             # the chapters already follow it
        copy = tmp_path / "c.ipynb"
        copy.write_text(path.read_text())
        assert not sync.sync(copy, sync.canonical_head()), path.name
