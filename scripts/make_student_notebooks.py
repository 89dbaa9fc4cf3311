"""Build the student notebooks from the chapter notebooks (the chapters stay the one place to edit).

    python scripts/make_student_notebooks.py           # write students/*.ipynb and students/solutions/*.ipynb
    python scripts/make_student_notebooks.py --check   # exit 1 when the committed ones are stale

Colab and Jupyter render Markdown as CommonMark, so every MyST construct of a chapter is converted:
an ``{exercise}`` becomes a quoted "Exercise N.k" block followed by a starter code cell (and a check cell where
``chapters/exercise_checks.yml`` has one), a ``{solution}`` moves to ``students/solutions/NN_*_solutions.ipynb``,
admonitions become quoted blocks, ``{cite}`` becomes "(Author, year)" linked to the book's bibliography page,
``{doc}`` and relative links become absolute links to the published book, ``(label)=`` targets are dropped.
A construct the converter does not know raises an error naming the notebook and cell.

The published book's URL is ``html.baseurl`` in ``_config.yml`` when set, else the GitHub Pages address of
``repository.url`` (``https://github.com/OWNER/NAME`` -> ``https://OWNER.github.io/NAME``), where
``.github/workflows/book.yml`` publishes it. The setup cell's Colab form field defaults to quick mode here, and
the cell opens as a collapsed form in Colab; the cells an instructor runs live (tag ``workshop-live``) start with a
"▶ run live in the workshop" comment; citations are plain text (BibTeX accents turned into Unicode).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
STUDENTS = ROOT / "students"
SOLUTIONS = STUDENTS / "solutions"

ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error", "seealso",
               "admonition"}
QUICK_SOURCE = 'QUICK = False  # @param {type:"boolean"}'
QUICK_STUDENT = 'QUICK = True  # @param {type:"boolean"}'
STARTER = "# Exercise {number}: your answer here (the solution is in the solutions notebook)\n"

CHECKS_PATH = CHAPTERS / "exercise_checks.yml"
LIVE_TAG = "workshop-live"
LIVE_MARK = "# ▶ run live in the workshop ({k} of {n})\n"


def load_checks(path: Path = CHECKS_PATH) -> dict[str, tuple[str, str]]:
    """Exercises whose answer a cell can check (``chapters/exercise_checks.yml``): label -> (starter code, check code).

    The starter leaves the answer as None and the check prints "not yet" until it is filled in, so a notebook run
    top to bottom (nbval, "Run all") passes; a check cell's first line is a "# Check:" comment."""
    data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    out = {}
    for label, entry in (data or {}).items():
        if not (isinstance(entry, dict) and isinstance(entry.get("starter"), str) and isinstance(entry.get("check"), str)):
            raise ValueError(f"{path}: {label} needs a 'starter' and a 'check' (code as text), got {entry!r}")
        if not entry["check"].startswith("# Check:"):
            raise ValueError(f"{path}: {label}'s check must start with a '# Check:' comment line")
        out[str(label)] = (entry["starter"], entry["check"])
    return out


STUDENT_CHECKS = load_checks()
FROM_SOLUTION = "from-solution"
_ANSWER = re.compile(r"^(\s*)([A-Za-z_]\w*) = .*?#\s*answer:\s*(.*)$", re.M)
_SOLUTION = r"^(`{3,}|:{3,})\{solution\}[ \t]*%s[ \t]*\n(.*?)^\1[ \t]*$"
_CODE = re.compile(r"^(`{3,}|~{3,})[ \t]*(?:\{code-cell\}[ \t]*)?(?:python|ipython3?)[ \t]*\n(.*?)^\1[ \t]*$", re.S | re.M)


def solution_code(markdown: str, label: str) -> str | None:
    """The first python code block of the ``{solution}`` of exercise ``label`` in a chapter's markdown, or None."""
    m = re.search(_SOLUTION % re.escape(label), markdown, re.S | re.M)
    code = _CODE.search(m.group(2)) if m else None
    return code.group(2) if code else None


def starter_from_solution(code: str) -> str:
    """The solution's code with each ``NAME = ...  # answer: what`` line's value replaced by None."""
    if not _ANSWER.search(code):
        raise ValueError("a 'from-solution' starter needs lines 'NAME = ...  # answer: ...' in the solution's code")
    return _ANSWER.sub(lambda m: f"{m.group(1)}{m.group(2)} = None  # {m.group(3)}", code)


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def book_url(cfg: dict | None = None) -> str:
    """The published book's address: ``html.baseurl`` if set, else GitHub Pages of ``repository.url``."""
    cfg = cfg or config()
    base = (cfg.get("html") or {}).get("baseurl")
    if base:
        return base.rstrip("/")
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", cfg["repository"]["url"])
    if not m:
        raise ValueError(f"_config.yml repository.url {cfg['repository']['url']!r}: expected https://github.com/OWNER/NAME")
    owner, name = m.groups()
    return f"https://{owner.lower()}.github.io/{name}"


def colab_url(path: str, cfg: dict | None = None) -> str:
    """The Colab address of a file of the repository (e.g. ``students/01_x.ipynb``)."""
    cfg = cfg or config()
    owner_repo = cfg["repository"]["url"].rstrip("/").split("github.com/")[1]
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{cfg['repository'].get('branch', 'main')}/{path}"


# ---- bibliography -------------------------------------------------------------------------------------------

def tex_to_text(text: str) -> str:
    """BibTeX text as a reader sees it: accents (``\\v{n}``, ``\\"o``, ``{\\'e}``), ``--``, ``\\&`` and protective
    braces turned into Unicode text (latexcodec, which pybtex brings)."""
    import codecs

    import latexcodec  # noqa: F401  (registers the "ulatex" codec)

    return codecs.decode(text, "ulatex").replace("{", "").replace("}", "")


def bibliography(path: Path = ROOT / "references.bib") -> dict[str, tuple[str, str]]:
    """Citation key -> (authors as the book cites them, year), read from references.bib."""
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [tex_to_text(" ".join(p.last_names)) for p in people]
        if not last:
            authors = tex_to_text(entry.fields.get("organization", entry.fields.get("title", key)))
        elif len(last) == 1:
            authors = last[0]
        elif len(last) == 2:
            authors = f"{last[0]} and {last[1]}"
        else:
            authors = f"{last[0]} et al."
        out[key] = (authors, entry.fields.get("year", "n.d."))
    return out


# ---- Markdown conversion ------------------------------------------------------------------------------------

@dataclass
class Context:
    """What the conversion of one notebook needs and collects."""

    name: str                     # notebook file name, for error messages
    chapter: str                  # "1", "2", ... or "" for unnumbered notebooks
    book: str
    bib: dict[str, tuple[str, str]]
    labels: dict[str, str]        # MyST target label -> page (e.g. "chapters/06_leaf")
    titles: dict[str, str]        # page -> title
    exercises: list[dict] = field(default_factory=list)
    solutions: dict[str, str] = field(default_factory=dict)
    markdown: str = ""            # all markdown of the notebook (a starter taken from a solution looks here)
    cell: int = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{self.name}, cell {self.cell}: {what}")

    def page_url(self, target: str, anchor: str = "") -> str:
        target = re.sub(r"\.(ipynb|md)$", "", target)
        page = (Path("chapters") / target).as_posix() if not target.startswith("/") else target.lstrip("/")
        page = re.sub(r"[^/]+/\.\./", "", page)
        if not ((ROOT / f"{page}.ipynb").is_file() or (ROOT / f"{page}.md").is_file()):
            raise self.fail(f"link to {target!r}: no page {page}.ipynb or .md")
        return f"{self.book}/{page}.html" + (f"#{anchor}" if anchor else "")


_ROLE = re.compile(r"(?<!`)\{([a-zA-Z][\w:-]*)\}`([^`\n]+)`")
_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(([^)\s]+)\)")
_TARGET_LINE = re.compile(r"^\(([\w.:-]+)\)=\s*$")
_FENCE = re.compile(r"^(\s*)(`{3,}|:{3,}|~{3,})\s*(\{([\w-]+)\})?\s*(.*)$")


def _cite(ctx: Context, role: str, keys: str) -> str:
    parts = []
    for key in (k.strip() for k in keys.split(",")):
        if key not in ctx.bib:
            raise ctx.fail(f"{{{role}}}`{key}`: no such key in references.bib")
        authors, year = ctx.bib[key]
        text = f"{authors} ({year})" if role in ("cite:t", "cite:ts") else f"{authors}, {year}"
        parts.append(f"[{text}]({ctx.book}/chapters/bibliography.html)")
    joined = "; ".join(parts)
    return joined if role in ("cite:t", "cite:ts") else f"({joined})"


def _explicit(content: str) -> tuple[str | None, str]:
    m = re.fullmatch(r"(.*?)\s*<([^>]+)>", content, re.S)
    return (m.group(1), m.group(2)) if m else (None, content)


def _role(ctx: Context, m: re.Match) -> str:
    role, content = m.group(1), m.group(2)
    if role.startswith("cite"):
        return _cite(ctx, role, content)
    if role == "doc":
        text, target = _explicit(content)
        page = (Path("chapters") / target).as_posix()
        return f"[{text or ctx.titles.get(page, target)}]({ctx.page_url(target)})"
    if role in ("ref", "numref"):
        text, label = _explicit(content)
        if label not in ctx.labels:
            raise ctx.fail(f"{{{role}}}`{content}`: unknown label {label!r}")
        return f"[{text or label}]({ctx.book}/{ctx.labels[label]}.html#{label.lower()})"
    if role in ("math", "eq"):
        return f"${content}$"
    if role in ("code", "literal", "samp", "file", "kbd", "command", "program"):
        return f"`{content}`"
    if role in ("sub", "sup"):
        return f"<{role}>{content}</{role}>"
    raise ctx.fail(f"MyST role {{{role}}} has no CommonMark conversion (add one in scripts/make_student_notebooks.py)")


def _link(ctx: Context, m: re.Match) -> str:
    bang, text, target = m.groups()
    if re.match(r"[a-zA-Z][\w+.-]*:", target) or target.startswith("#"):
        return m.group(0)
    path, _, anchor = target.partition("#")
    if bang:
        cfg = config()
        owner_repo = cfg["repository"]["url"].rstrip("/").split("github.com/")[1]
        raw = f"https://raw.githubusercontent.com/{owner_repo}/{cfg['repository'].get('branch', 'main')}"
        return f"![{text}]({raw}/{(Path('chapters') / path).as_posix()})"
    return f"[{text}]({ctx.page_url(path, anchor)})"


_INLINE = re.compile(r"(?P<role>\{[a-zA-Z][\w:-]*\}`[^`\n]+`)|(?P<code>`[^`\n]+`)")


def inline(ctx: Context, text: str) -> str:
    """Roles and relative links of one stretch of Markdown outside code blocks; inline code spans kept."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(_LINK.sub(lambda k: _link(ctx, k), text[pos:m.start()]))
        out.append(_ROLE.sub(lambda r: _role(ctx, r), m.group(0)) if m.group("role") else m.group(0))
        pos = m.end()
    out.append(_LINK.sub(lambda k: _link(ctx, k), text[pos:]))
    return "".join(out)


def _quote(text: str) -> str:
    return "\n".join(("> " + line).rstrip() for line in text.rstrip("\n").split("\n"))


def _block_end(lines: list[str], start: int, fence: str, indent: str) -> int:
    """Index of the line that closes the fence opened at ``start``."""
    char = fence[0]
    for j in range(start + 1, len(lines)):
        s = lines[j].strip()
        if s and set(s) == {char} and len(s) >= len(fence) and lines[j].startswith(indent):
            return j
    raise ValueError(f"unclosed fence {fence!r} opened at line {start + 1}")


def _options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    opts = {}
    while body and re.match(r"^:[\w-]+:", body[0]):
        key, _, value = body.pop(0)[1:].partition(":")
        opts[key] = value.strip()
    return opts, body


def convert(ctx: Context, source: str) -> list[tuple[str, str]]:
    """One markdown cell -> [("markdown" | "code", source), ...] for the student notebook."""
    lines = source.split("\n")
    cells: list[tuple[str, str]] = []
    buf: list[str] = []

    def flush():
        text = "\n".join(buf).strip("\n")
        if text.strip():
            cells.append(("markdown", text))
        buf.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if _TARGET_LINE.match(line):
            i += 1
            continue
        m = _FENCE.match(line)
        if not m:
            buf.append(inline(ctx, line))
            i += 1
            continue
        indent, fence, _, directive, arg = m.groups()
        if fence[0] == ":" and directive is None:  # a stray colon line, not a block
            buf.append(inline(ctx, line))
            i += 1
            continue
        end = _block_end(lines, i, fence, indent)
        body = lines[i + 1:end]
        i = end + 1
        if directive is None:  # a plain code block: copied as it is
            buf.extend([line, *body, lines[end]])
            continue
        opts, body = _options(body)
        text = "\n".join(body).strip("\n")
        if directive == "exercise":
            number = f"{ctx.chapter}.{len(ctx.exercises) + 1}" if ctx.chapter else str(len(ctx.exercises) + 1)
            label = opts.get("label", "")
            ctx.exercises.append({"label": label, "title": arg.strip(), "number": number, "text": text})
            title = f"**Exercise {number}: {inline(ctx, arg.strip())}**" if arg.strip() else f"**Exercise {number}**"
            flush()
            buf.append(_quote(f"{title}\n\n{_converted(ctx, text)}"))
            flush()
            starter, check = STUDENT_CHECKS.get(label, ("", ""))
            if starter == FROM_SOLUTION:
                code = solution_code(ctx.markdown, label)
                if code is None:
                    raise ctx.fail(f"{label}: starter '{FROM_SOLUTION}', but its solution has no python code block")
                starter = starter_from_solution(code)
            cells.append(("code", STARTER.format(number=number) + starter))
            if check:
                cells.append(("code", check))
        elif directive == "solution":
            label = arg.strip()
            if not label:
                raise ctx.fail("a {solution} without the label of its exercise")
            ctx.solutions[label] = text
        elif directive in ADMONITIONS:
            title = arg.strip() if directive == "admonition" else directive.capitalize()
            if directive == "seealso":
                title = "See also"
            buf.append(_quote(f"**{inline(ctx, title)}**\n\n{_converted(ctx, text)}"))
        elif directive == "math":
            buf.extend(["$$", text, "$$"])
        elif directive in ("figure", "image"):
            buf.append(_link(ctx, re.match(_LINK, f"![{opts.get('alt', '')}]({arg.strip()})")))
            if text:
                buf.append(f"*{inline(ctx, text)}*")
        else:
            raise ctx.fail(f"MyST directive {{{directive}}} has no CommonMark conversion "
                           "(add one in scripts/make_student_notebooks.py)")
    flush()
    return cells


def _converted(ctx: Context, text: str) -> str:
    """Markdown of a directive's body (nested directives become quoted blocks too)."""
    parts = convert(ctx, text)
    if any(kind != "markdown" for kind, _ in parts):
        raise ctx.fail("an exercise nested inside another directive")
    return "\n\n".join(src for _, src in parts)


# ---- notebooks ----------------------------------------------------------------------------------------------

def sources() -> list[Path]:
    """Every notebook of the book: ``chapters/*.ipynb`` (new chapters are picked up as they land)."""
    return sorted(CHAPTERS.glob("*.ipynb"))


def _labels_and_titles() -> tuple[dict[str, str], dict[str, str]]:
    labels, titles = {}, {}
    for path in sorted(CHAPTERS.glob("*.ipynb")) + sorted(CHAPTERS.glob("*.md")):
        page = f"chapters/{path.stem}"
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        else:
            text = path.read_text()
        for m in re.finditer(r"^\(([\w.:-]+)\)=\s*$|^:label:\s*(\S+)", text, re.M):
            labels[m.group(1) or m.group(2)] = page
        t = re.search(r"^# (.+)$", text, re.M)
        if t:
            titles[page] = t.group(1).strip()
    return labels, titles


def _chapter_number(path: Path) -> str:
    m = re.match(r"(\d+)_", path.name)
    return str(int(m.group(1))) if m else ""


def student_notebooks(path: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The student notebook and the solutions notebook of one chapter notebook."""
    cfg = config()
    labels, titles = _labels_and_titles()
    ctx = Context(name=path.name, chapter=_chapter_number(path), book=book_url(cfg), bib=bibliography(),
                  labels=labels, titles=titles)
    nb = nbformat.read(path, as_version=4)
    ctx.markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    student = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.metadata))
    student.metadata.pop("widgets", None)
    source_badge = colab_url(f"chapters/{path.name}", cfg)
    setup_seen = False
    n_live = sum(LIVE_TAG in c.metadata.get("tags", []) for c in nb.cells)
    k_live = 0
    for ctx.cell, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            src = cell.source.replace(source_badge, colab_url(f"students/{path.name}", cfg))
            for kind, text in convert(ctx, src):
                new = nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text)
                student.cells.append(new)
        elif cell.cell_type == "code":
            src = cell.source
            meta = copy.deepcopy(dict(cell.metadata))
            if not setup_seen:
                setup_seen = True
                if QUICK_SOURCE in src:
                    src = src.replace(QUICK_SOURCE, QUICK_STUDENT, 1)
                if src.startswith("# @title"):
                    meta["cellView"] = "form"  # Colab shows the form and hides the code
            if LIVE_TAG in meta.get("tags", []):  # Colab shows no tags: the mark is a comment
                k_live += 1
                src = LIVE_MARK.format(k=k_live, n=n_live) + src
            new = nbformat.v4.new_code_cell(src, metadata=meta)
            new.metadata.pop("execution", None)
            student.cells.append(new)
        else:
            student.cells.append(copy.deepcopy(cell))
    missing = [e["label"] for e in ctx.exercises if e["label"] not in ctx.solutions]
    if missing:
        raise ValueError(f"{path.name}: exercises without a solution: {missing}")
    solutions = _solutions_notebook(ctx, path, nb.cells[0].source.lstrip().splitlines()[0].lstrip("# ").strip())
    for cell in student.cells:  # ids derived from position and content keep the output byte-stable
        cell.id = f"cell-{student.cells.index(cell)}"
    for cell in solutions.cells:
        cell.id = f"cell-{solutions.cells.index(cell)}"
    return student, solutions


def _solutions_notebook(ctx: Context, path: Path, title: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                           "name": "python3"}})
    intro = (f"# Solutions: {title}\n\nThe solutions of the exercises of [{title}]({ctx.page_url(path.stem)}), "
             f"for after the session. Their code runs in the chapter's notebook, after the cells it builds on "
             f"([open it in Colab]({colab_url(f'students/{path.name}')})).")
    nb.cells.append(nbformat.v4.new_markdown_cell(intro))
    for ex in ctx.exercises:
        text = _converted(ctx, ctx.solutions[ex["label"]])
        nb.cells.append(nbformat.v4.new_markdown_cell(
            f"## Exercise {ex['number']}: {inline(ctx, ex['title'])}\n\n{_quote(_converted(ctx, ex['text']))}\n\n"
            f"**Solution.**\n\n{text}"))
    return nb


def targets(path: Path) -> tuple[Path, Path]:
    return STUDENTS / path.name, SOLUTIONS / f"{path.stem}_solutions.ipynb"


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a committed student notebook is stale")
    args = ap.parse_args(argv)
    expected: dict[Path, str] = {}
    for path in sources():
        student, solutions = student_notebooks(path)
        s_path, sol_path = targets(path)
        expected[s_path] = render(student)
        if any(c.cell_type == "markdown" and c.source.startswith("## Exercise") for c in solutions.cells):
            expected[sol_path] = render(solutions)
    present = set(STUDENTS.glob("*.ipynb")) | set(SOLUTIONS.glob("*.ipynb"))
    stale = sorted(p for p in expected if not p.is_file() or p.read_text() != expected[p])
    extra = sorted(present - set(expected))
    if args.check:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)}")
        for p in extra:
            print(f"no chapter for: {p.relative_to(ROOT)}")
        if stale or extra:
            print("run: python scripts/make_student_notebooks.py")
        return 1 if stale or extra else 0
    SOLUTIONS.mkdir(parents=True, exist_ok=True)
    for p in stale:
        p.write_text(expected[p])
        print(f"wrote {p.relative_to(ROOT)}")
    for p in extra:
        p.unlink()
        print(f"removed {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
