"""Notebook hygiene: no outputs, the Colab badge and setup cell point at the configured repository, every
chapter is in the table of contents, exercises hide their solutions."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"].get("branch", "main")
OWNER_REPO = REPO_URL.split("github.com/")[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]
STUDENT_NOTEBOOKS = sorted((ROOT / "students").rglob("*.ipynb"))

SETUP_HEAD = f'''# @title Setup: in Colab, fetch the book and install l2o_lib {{ display-mode: "form" }}
# Colab's own torch and jax stay; outside Colab the if-block below is skipped.
QUICK = False  # @param {{type:"boolean"}}
import importlib.util, os, subprocess, sys

REPO, BOOK = "{REPO_URL}", "/content/{REPO_URL.rsplit("/", 1)[1]}"
if "google.colab" in sys.modules:
    if not os.path.isdir(BOOK + "/.git"):
        print("Fetching the book from", REPO)
        r = subprocess.run(
            ["git", "clone", "-q", "--depth", "1", REPO, BOOK],
            capture_output=True,
            text=True,
        )
        if r.returncode:
            hint = f"no network, or a wrong URL? (half-made {{BOOK}}? !rm -rf {{BOOK}})"
            raise RuntimeError(f"Could not clone {{REPO}}: {{hint}}\\n{{r.stderr}}")
    if importlib.util.find_spec("l2o_lib") is None:
        print("Installing l2o_lib: 1-2 minutes the first time (casadi, NeuroMANCER)")
        mods = ("numpy", "scipy", "matplotlib", "ipywidgets", "pydot", "tqdm")
        old = {{m: sys.modules[m].__version__ for m in mods if m in sys.modules}}
        r = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", BOOK + "[colab]"],
            capture_output=True,
            text=True,
        )
        if r.returncode:
            log = (r.stdout + r.stderr)[-3000:]
            raise RuntimeError(
                "pip could not install l2o_lib (no network? a version "
                f"conflict?). pip said:\\n{{log}}"
            )
        importlib.invalidate_caches()
        from importlib.metadata import version

        new = [m for m in old if version(m) != old[m]]
        if new:
            raise RuntimeError(
                f"Installed, but pip replaced {{new}}, loaded before: "
                "Runtime > Restart session, then run this cell again."
            )
    os.environ["L2O_DATA_DIR"] = BOOK + "/data"
# ---- imports, seed, device, quick mode
'''


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc.get("parts", toc.get("chapters", [])))
    return files


def test_there_are_chapters():
    assert len(CHAPTERS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS + STUDENT_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_valid_and_carries_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name}: cell {i} has outputs (run scripts/strip_outputs.py)"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in metadata"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_and_setup_cell_point_at_the_configured_repository(path):
    nb = nbformat.read(path, as_version=4)
    first, setup = nb.cells[0], next(c for c in nb.cells if c.cell_type == "code")
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), "cell 1: a markdown title"
    badge = f"https://colab.research.google.com/github/{OWNER_REPO}/blob/{BRANCH}/students/{path.name}"
    assert badge in first.source, f"{path.name}: cell 1 needs the Colab badge opening the student notebook {badge}"
    assert (ROOT / "students" / path.name).is_file(), f"students/{path.name}: run scripts/make_student_notebooks.py"
    assert "colab-badge.svg" in first.source
    assert setup.source.startswith(SETUP_HEAD), f"{path.name}: not DEVELOPING.md's setup cell (scripts/sync_setup_cell.py)"
    assert "runtime.setup(seed=0, quick=QUICK" in setup.source, f"{path.name}: the QUICK field goes to runtime.setup"
    assert "hide-input" in setup.metadata.get("tags", []), f"{path.name}: the setup cell's input hides in the book"


def test_developing_md_shows_the_setup_cell_verbatim():
    assert SETUP_HEAD in (ROOT / "DEVELOPING.md").read_text(), "DEVELOPING.md: update its copy of the setup cell"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_the_book_arc(path):
    nb = nbformat.read(path, as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"you will learn", md, re.I), f"{path.name}: 'you will learn' bullets"
    # the landing page's chapter map reads this line from the first cell (scripts/run_chapters.py)
    assert re.search(r"\*\*Prerequisites:?\*\*", nb.cells[0].source), f"{path.name}: cell 1 needs '**Prerequisites**: ...'"
    assert re.search(r"^#+ .*what goes wrong", md, re.I | re.M), f"{path.name}: a 'What goes wrong' section"
    exercises = re.findall(r"```\{exercise\}", md)
    solutions = re.findall(r"```\{solution\} (\S+)\n:class: dropdown", md)
    assert 2 <= len(exercises) <= 4, f"{path.name}: 2-4 exercises, found {len(exercises)}"
    assert len(solutions) == len(exercises), f"{path.name}: every exercise needs a hidden (dropdown) solution"
    assert re.search(r"\{cite", md), f"{path.name}: cite references from references.bib"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_title_carries_its_number(path):
    # the sidebar and the landing page's chapter map list titles: "N. Title" in every chapter, no other style
    title = nbformat.read(path, as_version=4).cells[0].source.lstrip().splitlines()[0]
    number = int(path.name[:2])
    assert re.fullmatch(rf"# {number}\. [A-Z]\S.*", title), f"{path.name}: title must read '# {number}. ...', is {title!r}"


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    listed = set(_toc_files())
    for path in NOTEBOOKS + sorted((ROOT / "chapters").glob("*.md")):
        assert f"chapters/{path.stem}" in listed, f"{path.name} is not in _toc.yml"
    for entry in listed:
        assert any((ROOT / f"{entry}{ext}").is_file() for ext in (".ipynb", ".md")), f"_toc.yml lists missing {entry}"
