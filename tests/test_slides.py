"""The workshop's slide decks (scripts/slides.py): one self-contained deck per hands-on slot, built from an executed
notebook and the workshop plan, with nothing loaded from a network."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import slides  # noqa: E402

PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                     "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()
PLAN = """
reading_words_per_minute: 200
live_cell_minutes: 3
install_minutes: 2
plans:
  - id: mini
    title: A mini workshop
    length: 30
    slots:
      - {chapter: "01", minutes: 20, exercises: 5, format: hands-on}
      - {chapter: "01", minutes: 10, format: demo}
chapters:
  "01":
    live:
      - {cell: c-fig, say: "The figure says it all."}
      - {cell: c-table, say: "Read the table from the bottom."}
    questions: ["Why?"]
"""


def _chapter(folder: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 1. Tiny\n\n**Promise.** A tiny chapter that shows two results.\n\n"
                                              "```{exercise} Add\n:label: t-ex1\n**Recommended in the workshop** · 5 min · "
                                              "easy\n\nAdd $x$ and 2.\n```\n```{solution} t-ex1\n:class: dropdown\n4\n```"),
                nbformat.v4.new_code_cell("plot(x)"), nbformat.v4.new_code_cell("show_table()")]
    for cell, cid in zip(nb.cells, ("c-md", "c-fig", "c-table")):
        cell.id = cid
        if cell.cell_type == "code":
            cell.metadata["tags"] = ["workshop-live"]
    nbformat.write(nb, folder / "01_tiny.ipynb")
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="the answer is 4\n"),
                           nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "| a | b |\n|---|---|\n| 1 | 2 |"}),
                           nbformat.v4.new_output("display_data", data={"text/html": '<div class="slider"><img src="">'
                                                  + "<script>var frames = " + str([f"data:image/png;base64,{PNG}",
                                                                                   "data:image/png;base64,TEFTVA=="])
                                                  + ";</script>" + " " * slides.MAX_HTML + "</div>"})]
    (folder / "executed").mkdir()
    nbformat.write(nb, folder / "executed" / "01_tiny.ipynb")
    student = nbformat.v4.new_notebook()
    student.cells = [nbformat.v4.new_markdown_cell("> **Exercise 1.1: Add**\n>\n> Add $x$ and 2.")]
    (folder / "students").mkdir()
    nbformat.write(student, folder / "students" / "01_tiny.ipynb")


def test_one_self_contained_deck_per_hands_on_slot(tmp_path):
    _chapter(tmp_path)
    (tmp_path / "workshop_plan.yml").write_text(PLAN)
    decks = slides.build_decks(tmp_path / "executed", tmp_path / "out", folder=tmp_path,
                               plan_path=tmp_path / "workshop_plan.yml", students=tmp_path / "students")
    assert [d.name for d in decks] == ["mini-01.html"]  # the demo slot gets none
    page = decks[0].read_text()
    assert page.count('<section class="slide">') == 1 + 2 + 1 + 1 + 1  # title, 2 live cells, questions, exercise, end
    assert "live cell 1 of 2" in page and "live cell 2 of 2" in page
    assert f"data:image/png;base64,{PNG}" in page and "the answer is 4" in page and "<table>" in page
    assert '<img alt="figure" src="data:image/png;base64,TEFTVA==">' in page  # a static slider: its last frame
    assert "var frames" not in page
    assert "<h2>The figure says it all.</h2>" in page and "Why?" in page and "Exercise 1.1: Add" in page
    assert "7 min</td><td>2 × 3 min</td><td>5 min</td><td>2 min" in page  # talk, live cells, exercise, install
    assert "colab.research.google.com" in page and "students/01_tiny.ipynb" in page
    # nothing from a network: scripts and style sheets are inline or the book's own MathJax copy
    assert re.findall(r'<script[^>]+src="([^"]+)"', page) == [slides.MATHJAX]  # the exercise has math
    assert not re.search(r'<link[^>]+href="https?:', page)


def test_a_deck_without_an_executed_notebook_says_so(tmp_path):
    _chapter(tmp_path)
    (tmp_path / "workshop_plan.yml").write_text(PLAN)
    (tmp_path / "executed" / "01_tiny.ipynb").unlink()
    page = slides.build_decks(tmp_path / "executed", tmp_path / "out", folder=tmp_path,
                              plan_path=tmp_path / "workshop_plan.yml", students=tmp_path / "students")[0].read_text()
    assert page.count("Not executed in this build.") == 2
