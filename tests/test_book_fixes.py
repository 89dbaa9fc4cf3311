"""The book's Sphinx extension (_ext/book_fixes.py) on a two-page project built with myst-nb: live cells are
marked, and the workshop fallbacks (executed notebooks with outputs, the offline archive) are written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from sphinx.cmd.build import build_main

    src = tmp_path_factory.mktemp("book")
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / '_ext')!r})\n"
        "extensions = ['myst_nb', 'book_fixes']\n"
        "nb_execution_mode = 'force'\n"
        "exclude_patterns = ['_build']\n")
    (src / "index.md").write_text("# Tiny book\n\n```{toctree}\nchapters/01_tiny\n```\n")
    (src / "chapters").mkdir()
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# 1. Tiny"), nbformat.v4.new_code_cell("print(6 * 7)"),
                nbformat.v4.new_code_cell("print('not live')")]
    nb.cells[1].metadata["tags"] = ["workshop-live"]
    nbformat.write(nb, src / "chapters" / "01_tiny.ipynb")
    out = src / "_build" / "html"
    assert build_main(["-b", "html", "-q", "-W", str(src), str(out)]) == 0
    return out


def test_live_cells_are_marked(built):
    page = (built / "chapters" / "01_tiny.html").read_text(encoding="utf-8")
    assert page.count("tag_workshop-live") == 1  # one tagged cell, the untagged one stays plain
    live = page.split("tag_workshop-live")[1].split("not live")[0]
    assert "print" in live and "42" in live
    assert 'href="../_static/l2o-workshop.css' in page
    css = (built / "_static" / "l2o-workshop.css").read_text()
    assert "div.cell.tag_workshop-live::before" in css and "run live in the workshop" in css
    assert "section#presenter-view > section + section { break-before: page; }" in css


def test_executed_notebooks_and_the_offline_archive(built):
    executed = built / "downloads" / "executed" / "01_tiny.ipynb"
    cells = nbformat.read(executed, as_version=4).cells
    assert cells[1].outputs[0].text == "42\n"  # with its outputs, unlike the committed notebooks
    with zipfile.ZipFile(built / "downloads" / "l2o-book-executed-notebooks.zip") as zf:
        assert zf.namelist() == ["01_tiny.ipynb"]
    with zipfile.ZipFile(built / "downloads" / "l2o-book-html.zip") as zf:
        names = set(zf.namelist())
        assert {"l2o-book-html/index.html", "l2o-book-html/chapters/01_tiny.html",
                "l2o-book-html/_static/l2o-workshop.css", "l2o-book-html/downloads/executed/01_tiny.ipynb"} <= names
        assert not any(n.endswith((".zip", ".part")) for n in names)
        assert b"tag_workshop-live" in zf.read("l2o-book-html/chapters/01_tiny.html")
