"""Mathematics is MyST math: in the chapter sources (every renderer) and in the built HTML (what a reader sees).

The notebook checks run on the sources: a `$$` block opened inside a paragraph (MyST then typesets the rest of
the paragraph as one run-together formula), and TeX-like tokens in prose outside `$…$` (`x^{k+1}`, `prox_{f/ρ}`,
`\\bar q`, a lone `$`), which the reader would see raw. The HTML check runs on the quick-mode build: every
text node outside typeset math, code and outputs is free of the same tokens.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nbformat
import pytest
from test_hygiene import NOTEBOOKS, ROOT, _toc_files

MD_PAGES = sorted((ROOT / "chapters").glob("*.md"))
#: `_{`, `^{`, a backslash command, or a `$` that does not open or close MyST math
TEX_TOKEN = re.compile(r"_\{|\^\{|\\[A-Za-z]+|\$")


def _markdown_sources() -> list[tuple[str, str]]:
    out = []
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        out += [(f"{path.name} cell {i}", c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    out += [(p.name, p.read_text(encoding="utf-8")) for p in MD_PAGES]
    return out


SOURCES = _markdown_sources()


def _prose_lines(text: str):
    """Yield (line number, line) of prose: fenced code (``` or ~~~) is skipped, directive option lines too;
    a directive (```{exercise}) holds prose, and its closing fence closes it."""
    code, directives = None, []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.match(r"(`{3,}|~{3,})", s)
        if code is not None:
            if s == code:
                code = None
            continue
        if m:
            if re.match(r"(`{3,}|~{3,})\{", s):
                directives.append(m.group(1))
            elif directives and s == directives[-1]:
                directives.pop()
            else:
                code = m.group(1)
            continue
        if not s.startswith(":"):
            yield n, line


def _strip_math_and_code(text: str) -> str:
    """Remove $$…$$ blocks, $…$ inline math, `code` and link targets; what remains is read as plain text."""
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"``[^`]+``|`[^`\n]+`", " ", text)
    text = re.sub(r"(?<![\\$])\$(?=\S)([^$\n]*?\S)\$(?!\$)", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return text


@pytest.mark.parametrize("where,text", SOURCES, ids=[w for w, _ in SOURCES])
def test_display_math_is_its_own_block(where, text):
    lines = list(_prose_lines(text))
    by_no = dict(lines)
    for n, line in lines:
        if "$$" not in line:
            continue
        assert line.strip() == "$$" or line.strip().startswith("$$") and line.strip().endswith("$$") and len(line.strip()) > 4, \
            f"{where} line {n}: `$$` must stand on its own line: {line.strip()[:80]!r}"
    # an opening `$$` needs a blank line (or the start of the cell) before it
    opened = False
    for n, line in lines:
        if line.strip() == "$$":
            if not opened:
                prev = by_no.get(n - 1, "")
                assert prev.strip() == "" or prev.lstrip().startswith(("#", ":", "```")), \
                    f"{where} line {n}: `$$` opened inside a paragraph (after {prev.strip()[:60]!r})"
            opened = not opened
        elif opened is False and line.strip().startswith("$$") and line.strip().endswith("$$"):
            prev = by_no.get(n - 1, "")
            assert prev.strip() == "", f"{where} line {n}: one-line `$$…$$` inside a paragraph"


@pytest.mark.parametrize("where,text", SOURCES, ids=[w for w, _ in SOURCES])
def test_no_tex_tokens_outside_math(where, text):
    prose = "\n".join(line for _, line in _prose_lines(text))
    plain = _strip_math_and_code(prose)
    bad = [m.group(0) + plain[m.end():m.end() + 25] for m in TEX_TOKEN.finditer(plain)]
    assert not bad, f"{where}: TeX-like text outside $…$ (write it as MyST math): {bad[:5]}"


class _TextOutsideMath(HTMLParser):
    """Collect text nodes of a built page that are not math, code, outputs, scripts or styles."""

    SKIP_TAGS = {"script", "style", "pre", "code", "mjx-container", "math", "svg", "head", "textarea"}
    SKIP_CLASSES = {"math", "cell_output", "highlight", "output", "cell_input", "notranslate"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []
        self.text: list[str] = []

    VOID = {"br", "img", "input", "meta", "link", "hr", "wbr", "source", "col", "area", "base", "embed", "param", "track"}

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        skip = tag in self.SKIP_TAGS or bool(classes & self.SKIP_CLASSES)
        self.stack.append(skip or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]) and data.strip():
            self.text.append(data)


@pytest.mark.slow
def test_built_pages_show_no_raw_tex(built_book):
    """Every page of the quick-mode build: no TeX-like token in a text node outside typeset math."""
    problems = []
    for entry in _toc_files():
        parser = _TextOutsideMath()
        parser.feed((built_book / f"{entry}.html").read_text(encoding="utf-8"))
        for node in parser.text:
            for m in TEX_TOKEN.finditer(node):
                problems.append(f"{entry}: {node[max(0, m.start() - 30):m.end() + 30].strip()!r}")
    assert not problems, "raw TeX in the rendered text:\n" + "\n".join(problems[:20])


def test_the_html_check_sees_raw_tex_and_ignores_math():
    page = ('<p>fine <span class="math notranslate nohighlight">\\(x^{k+1}\\)</span> text</p>'
            '<div class="cell_output"><pre>$ 5 x_{1}</pre></div><p>raw \\bar q = d_x and x^{k+1} here</p>')
    parser = _TextOutsideMath()
    parser.feed(page)
    found = [m.group(0) for node in parser.text for m in TEX_TOKEN.finditer(node)]
    assert found == ["\\bar", "^{"]


def test_the_notebook_checks_flag_what_they_should():
    assert TEX_TOKEN.search(_strip_math_and_code("the step prox_{f/ρ}(v) is"))
    assert not TEX_TOKEN.search(_strip_math_and_code("the step $\\mathrm{prox}_{f/\\rho}(v)$ and `a_{b}` is"))
    assert TEX_TOKEN.search(_strip_math_and_code("costs 5 $ per unit"))
    with pytest.raises(AssertionError, match="inside a paragraph"):
        test_display_math_is_its_own_block("example", "text of a paragraph\n$$\nx = 1\n$$\n")
    test_display_math_is_its_own_block("example", "a paragraph\n\n$$\nx = 1\n$$\n\nmore")


#: notations the book gave up for the one in chapters/notation.md (the pattern, and what to write instead)
RETIRED = {
    r"\\lambda_[123]\b|λ[₁₂₃]": "λ_g, λ_h, λ_R (the self-supervised penalty weights)",
    r"\bscaled form\b": "the dual y is unscaled (the multiplier itself); say so",
    r"\bA ?y ?= ?ξ|A ?y ?= ?\\xi|\bG ?y ?≤ ?h": "x for the decision variable, also in the DC3 QP",
    r"M_φ|M_\\phi": "N_φ (M is the training-set size and the Moreau envelope)",
}


@pytest.mark.parametrize("where,text", SOURCES, ids=[w for w, _ in SOURCES])
def test_notation_follows_the_table(where, text):
    if where == "notation.md":
        return
    prose = _strip_code_only("\n".join(line for _, line in _prose_lines(text)))
    for pattern, instead in RETIRED.items():
        m = re.search(pattern, prose)
        assert not m, f"{where}: {m.group(0)!r} is retired notation; write {instead} (chapters/notation.md)"


def _strip_code_only(text: str) -> str:
    return re.sub(r"``[^`]+``|`[^`\n]+`", " ", text)
