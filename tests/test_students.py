"""Student notebooks (students/): generated from the chapters by scripts/make_student_notebooks.py, current,
free of MyST, relative links and solution text; and the converter itself on small inputs."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_student_notebooks", ROOT / "scripts" / "make_student_notebooks.py")
msn = importlib.util.module_from_spec(_spec)
sys.modules["make_student_notebooks"] = msn
_spec.loader.exec_module(msn)

SOURCES = msn.sources()
STUDENT = sorted((ROOT / "students").glob("*.ipynb")) + sorted((ROOT / "students" / "solutions").glob("*.ipynb"))
BOOK = msn.book_url()

MYST = [
    (re.compile(r"^\s*(`{3,}|:{3,})\s*\{[\w-]+\}", re.M), "a MyST directive fence"),
    (re.compile(r"\{[a-zA-Z][\w:-]*\}`[^`]+`"), "a MyST role"),
    (re.compile(r"^\([\w.:-]+\)=\s*$", re.M), "a MyST target"),
    (re.compile(r"^:(class|label|name):", re.M), "a directive option"),
]


def _solutions(path: Path) -> list[str]:
    md = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    return [m.group(2) for m in re.finditer(r"^(`{3,})\{solution\}[^\n]*\n(.*?)^\1\s*$", md, re.S | re.M)]


def test_every_chapter_has_a_student_notebook_and_none_is_stale(capsys):
    assert SOURCES and all((ROOT / "students" / p.name).is_file() for p in SOURCES)
    assert msn.main(["--check"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_student_notebook_has_no_myst_and_no_relative_link(path):
    nb = nbformat.read(path, as_version=4)  # valid and without outputs: tests/test_hygiene.py
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            continue
        text = re.sub(r"^(`{3,}|~{3,}).*?^\1", "", cell.source, flags=re.S | re.M)  # code blocks may show anything
        for pattern, what in MYST:
            m = pattern.search(text)
            assert not m, f"{path.name}: cell {i} has {what}: {m.group(0)!r}"
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            assert re.match(r"(https?|mailto):|#", target), f"{path.name}: cell {i} has a relative link {target!r}"


@pytest.mark.parametrize("source", [p for p in SOURCES if _solutions(p)], ids=lambda p: p.name)
def test_student_notebook_carries_no_solution_text_and_the_solutions_notebook_does(source):
    chapter_md = "\n".join(c.source for c in nbformat.read(source, as_version=4).cells)
    outside = chapter_md
    solutions = _solutions(source)
    for sol in solutions:
        outside = outside.replace(sol, "")
    for label in re.findall(r":label:\s*(\S+)", chapter_md):  # a starter may repeat a solution's signature
        starter = msn.STUDENT_CHECKS.get(label, ("", ""))[0]
        if starter == msn.FROM_SOLUTION:
            starter = msn.starter_from_solution(msn.solution_code(chapter_md, label))
        outside += "\n" + starter
    student = "\n".join(c.source for c in nbformat.read(ROOT / "students" / source.name, as_version=4).cells)
    handout = "\n".join(c.source for c in nbformat.read(
        ROOT / "students" / "solutions" / f"{source.stem}_solutions.ipynb", as_version=4).cells)
    checked = 0
    for sol in solutions:
        for line in (ln.strip() for ln in sol.splitlines()):
            if len(line) >= 25 and line not in outside and not line.startswith(":"):
                assert line not in student, f"students/{source.name}: solution text {line!r}"
                checked += 1
        plain = [ln.strip() for ln in sol.splitlines() if len(ln.strip()) >= 25 and not re.search(r"[{}:]|\]\(", ln)]
        assert plain and plain[0] in handout, f"the solutions notebook lacks {plain[:1]}"
    assert checked >= len(solutions)  # every solution contributed lines to look for


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_student_notebook_has_a_starter_cell_per_exercise_and_quick_mode_on(source):
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)",
                        "\n".join(c.source for c in nbformat.read(source, as_version=4).cells))
    nb = nbformat.read(ROOT / "students" / source.name, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    starters = [s for s in code if re.match(r"# Exercise [\d.]+: your answer here", s)]
    assert len(starters) == len(labels)
    checks = [s for s in code if s.startswith("# Check:")]
    assert len(checks) == sum(label in msn.STUDENT_CHECKS for label in labels)
    assert msn.QUICK_STUDENT in code[0] and msn.QUICK_SOURCE not in code[0]
    assert f"blob/main/students/{source.name}" in nb.cells[0].source


def test_every_check_belongs_to_an_exercise():
    labels = set()
    for p in SOURCES:
        md = "\n".join(c.source for c in nbformat.read(p, as_version=4).cells)
        labels |= set(re.findall(r":label:\s*(\S+)", md))
    assert set(msn.STUDENT_CHECKS) <= labels, set(msn.STUDENT_CHECKS) - labels


def test_book_url_from_the_repository_or_baseurl():
    cfg = {"repository": {"url": "https://github.com/Some-Org/my-book"}}
    assert msn.book_url(cfg) == "https://some-org.github.io/my-book"
    assert msn.book_url({**cfg, "html": {"baseurl": "https://example.org/book/"}}) == "https://example.org/book"
    with pytest.raises(ValueError, match="expected https://github.com/OWNER/NAME"):
        msn.book_url({"repository": {"url": "https://gitlab.com/a/b"}})


def _ctx():
    labels, titles = msn._labels_and_titles()
    return msn.Context(name="t.ipynb", chapter="3", book=BOOK, bib=msn.bibliography(), labels=labels, titles=titles)


def test_converter_on_each_construct():
    ctx = _ctx()
    src = ("(sec-a)=\n## A\n\nSee {cite}`donti2021dc3,amos2017optnet` and {cite:t}`donti2021dc3`, the "
           "{doc}`guide <instructor_guide>`, {doc}`notation`, [home](index) and [web](https://x.org).\n\n"
           "```{note}\nA *note* with {math}`x^2`.\n```\n\n"
           ":::{admonition} Careful\nText.\n:::\n\n"
           "```{exercise} Do it\n:label: t-ex1\nCompute $x^{k+1}$.\n```\n"
           "````{solution} t-ex1\n:class: dropdown\n```python\nsecret = 42\n```\n````\nAfter.")
    cells = msn.convert(ctx, src)
    assert [kind for kind, _ in cells] == ["markdown", "markdown", "code", "markdown"]
    md = cells[0][1]
    bib = f"{BOOK}/chapters/bibliography.html"
    assert f"([Donti et al., 2021]({bib}); [Amos and Kolter, 2017]({bib}))" in md
    assert f"[Donti et al. (2021)]({bib})" in md
    assert f"[guide]({BOOK}/chapters/instructor_guide.html)" in md
    assert f"]({BOOK}/chapters/notation.html)" in md and f"[home]({BOOK}/chapters/index.html)" in md
    assert "[web](https://x.org)" in md and "(sec-a)=" not in md
    assert "> **Note**\n>\n> A *note* with $x^2$." in md and "> **Careful**\n>\n> Text." in md
    assert cells[1][1] == "> **Exercise 3.1: Do it**\n>\n> Compute $x^{k+1}$."
    assert cells[2][1].startswith("# Exercise 3.1: your answer here")
    assert cells[3][1] == "After." and "secret" not in "".join(s for _, s in cells)
    assert ctx.solutions["t-ex1"] == "```python\nsecret = 42\n```"


@pytest.mark.parametrize("src, match", [
    ("```{figure-md} x\nbody\n```", r"directive \{figure-md\} has no CommonMark conversion"),
    ("a {term}`thing` b", r"role \{term\} has no CommonMark conversion"),
    ("{cite}`nobody1900`", "no such key in references.bib"),
    ("[gone](no_such_page)", "no page chapters/no_such_page"),
    ("```{solution}\nx\n```", "without the label of its exercise"),
    ("```{note}\nnever closed", "unclosed fence"),
])
def test_converter_refuses_what_it_cannot_convert(src, match):
    with pytest.raises(ValueError, match=match):
        msn.convert(_ctx(), src)


# ---- workshop features: recommended exercises and their checks, TeX-free citations, live marks, the setup form ---

sys.path.insert(0, str(ROOT / "scripts"))
import chapters_lib as cl  # noqa: E402

RECOMMENDED = [(path, ex) for path in cl.notebooks(chapters_only=True)
               for ex in cl.notebook_info(path)["exercises"] if ex["recommended"]]
# BibTeX that a reader should never see: accent commands, {\'e}-style groups, escaped specials, en-dash pairs
TEX = re.compile(r"\\[`'\"^~=.uvHcdbrtk]\s*\{?[A-Za-z]|\{\\|\\&|\\%|\\_|(?<![-`<!])--(?![-`>])")


def _markdown(path: Path) -> str:
    return "\n".join(nbformat.read(path, as_version=4).cells[i].source
                     for i, c in enumerate(nbformat.read(path, as_version=4).cells) if c.cell_type == "markdown")


def _prose(text: str) -> str:
    """Markdown without code blocks, inline code, math and URLs: where a TeX escape would be one."""
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1", " ", text, flags=re.S | re.M)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$|`[^`\n]+`|\]\([^)]*\)", " ", text, flags=re.S)
    return text


def test_every_chapter_in_a_plan_has_one_recommended_exercise_with_a_check():
    import book_pages

    agenda = book_pages.load_plan()
    hands_on = {s["chapter"] for p in agenda["plans"] for s in p["slots"] if s.get("format") == "hands-on"}
    by_prefix = {path.name[:2]: [ex for p, ex in RECOMMENDED if p == path] for path in cl.notebooks(chapters_only=True)}
    for prefix in sorted(hands_on & set(by_prefix)):
        assert len(by_prefix[prefix]) == 1, f"chapter {prefix}: {len(by_prefix[prefix])} recommended exercises"
    for path, ex in RECOMMENDED:
        assert ex["label"] in msn.STUDENT_CHECKS, f"{ex['label']}: recommended but no check in chapters/exercise_checks.yml"
        assert msn.solution_code(_markdown(path), ex["label"]), f"{ex['label']}: its solution has no python code block"


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_student_notebook_shows_no_tex_escape(path):
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown":
            prose = _prose(cell.source)
            m = TEX.search(prose)
            assert not m, f"{path.name}: cell {i} shows TeX {m.group(0)!r} in {prose[max(0, m.start() - 40):m.end() + 40]!r}"


def test_tex_to_text_turns_bibtex_into_unicode():
    assert msn.tex_to_text(r"Drgo{\v{n}}a") == "Drgoňa" and msn.tex_to_text(r'Arnstr{\"o}m') == "Arnström"
    assert msn.tex_to_text(r"{\'E}cole--Polytechnique \& {DC3}") == "École–Polytechnique & DC3"
    assert not TEX.search(msn.tex_to_text(r"Ki{\v{s}} and {\'e} -- \& {\"u}"))
    assert TEX.search(r"Drgo\v{n}a") and TEX.search("pages 1--2") and not TEX.search("x_{k+1} <-- y")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_live_cells_are_marked_and_the_setup_cell_is_a_colab_form(source):
    chapter = nbformat.read(source, as_version=4)
    student = nbformat.read(ROOT / "students" / source.name, as_version=4)
    tagged = [c for c in chapter.cells if cl.LIVE_TAG in c.metadata.get("tags", [])]
    marked = [c for c in student.cells if c.cell_type == "code" and c.source.startswith("# ▶ run live in the workshop")]
    assert len(marked) == len(tagged) and all(cl.LIVE_TAG in c.metadata.get("tags", []) for c in marked)
    setup = next(c for c in student.cells if c.cell_type == "code")
    assert setup.source.startswith("# @title ") and 'display-mode: "form"' in setup.source.splitlines()[0]
    assert setup.metadata.get("cellView") == "form"


def test_a_starter_from_the_solution_blanks_the_answer_lines_only():
    code = "x = 1\ny = f(x)  # answer: the f of x\n    z = g(y)  # answer: g\nw = y"
    assert msn.starter_from_solution(code) == "x = 1\ny = None  # the f of x\n    z = None  # g\nw = y"
    with pytest.raises(ValueError, match="answer"):
        msn.starter_from_solution("x = 1")
    md = "````{solution} a-1\n:class: dropdown\nText.\n```python\nprint(1)\n```\n````\n```{solution} b\n~~~python\n2\n~~~\n```"
    assert msn.solution_code(md, "a-1") == "print(1)\n" and msn.solution_code(md, "b") == "2\n"
    assert msn.solution_code(md, "c") is None


def _output_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.slow
@pytest.mark.parametrize("path, ex", RECOMMENDED, ids=[ex["label"] for _, ex in RECOMMENDED])
def test_recommended_exercise_runs_in_quick_mode_and_its_check_says_correct(path, ex, tmp_path):
    """The student notebook up to the exercise's check (the starter alone: "not yet"), then the solution's code and
    the check again ("correct"), executed in quick mode; the solution's run time is printed against its minutes."""
    student = nbformat.read(ROOT / "students" / path.name, as_version=4)
    starter_at = next(i for i, c in enumerate(student.cells)
                      if c.cell_type == "code" and c.source.startswith(f"# Exercise {ex['number']}:"))
    check = student.cells[starter_at + 1]
    assert check.source.startswith("# Check:")
    nb = nbformat.v4.new_notebook(metadata=student.metadata)
    nb.cells = student.cells[:starter_at + 2] + [
        nbformat.v4.new_code_cell(msn.solution_code(_markdown(path), ex["label"])),
        nbformat.v4.new_code_cell(check.source)]
    target = tmp_path / path.name
    nbformat.write(nb, target)
    res = cl.execute(target, env=cl.timing_env(True), timeout=600, save_to=tmp_path / "out")
    assert res["ok"], f"{path.name} failed at cell {res['cell']}: {res['error']}"
    done = nbformat.read(tmp_path / "out" / path.name, as_version=4)
    first, last = _output_text(done.cells[starter_at + 1]), _output_text(done.cells[-1])
    assert first.startswith("not yet"), f"the starter alone should give 'not yet', got {first!r}"
    assert last.startswith("correct"), f"the solution should give 'correct', got {last!r}"
    seconds = cl._seconds(done.cells[-2]) or float("nan")
    print(f"{ex['label']}: solution {seconds:.1f} s in quick mode, budget {ex['recommended']['minutes']} min; "
          f"check: {last.strip()}")
