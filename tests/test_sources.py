"""Sources: every work in references.bib is cited by a page and has a DOI or URL; every citation resolves; the
bibliography's labels are author-year like the citations; each implemented method cites its primary source."""

from __future__ import annotations

import re
import sys

import nbformat
from pybtex.database import parse_file
from test_hygiene import NOTEBOOKS, ROOT

BIB = parse_file(str(ROOT / "references.bib"))
#: method implemented in a chapter -> the key of its primary paper, preprint or code
PRIMARY = {"DC3": "donti2021dc3", "OptNet": "amos2017optnet", "cvxpylayers": "agrawal2019cvxpylayers",
           "LEAF": "leaf2026", "HUANet": "tran2026huanet", "ICNN": "amos2017icnn", "ADMM": "gabay1976admm",
           "NeuroMANCER": "neuromancer2023", "implicit layers": "kolter2020implicit"}


def _cited() -> set[str]:
    texts = [c.source for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells if c.cell_type == "markdown"]
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "chapters").glob("*.md")]
    keys = set()
    for text in texts:
        for group in re.findall(r"\{cite(?::\w+)*\}`([^`]+)`", text):
            keys |= {k.strip() for k in group.split(",")}
    return keys


def test_every_citation_resolves_and_every_entry_is_cited():
    cited, listed = _cited(), set(BIB.entries)
    assert not cited - listed, f"cited but not in references.bib: {sorted(cited - listed)}"
    assert not listed - cited, f"in references.bib but cited by no page (cite or drop): {sorted(listed - cited)}"


def test_every_entry_has_a_doi_or_url():
    missing = [k for k, e in BIB.entries.items() if not ({"doi", "url"} & {f.lower() for f in e.fields})]
    assert not missing, f"entries without a DOI or URL: {missing}"


def test_every_implemented_method_cites_its_primary_source():
    cited = _cited()
    for method, key in PRIMARY.items():
        assert key in BIB.entries and key in cited, f"{method}: primary source {key} missing or never cited"


def test_bibliography_labels_are_author_year():
    sys.path.insert(0, str(ROOT / "_ext"))
    import bib_style

    labels = {e.key: bib_style.author_year(e) for e in BIB.entries.values()}
    assert labels["donti2021dc3"] == "Donti et al., 2021"
    assert labels["amos2017optnet"] == "Amos and Kolter, 2017"
    assert labels["amos2023amortized"] == "Amos, 2023"
    assert all(re.fullmatch(r".+, (\d{4}|n\.d\.)", label) for label in labels.values()), labels
    bib_style.register()
    from pybtex.plugin import find_plugin

    style = find_plugin("pybtex.style.formatting", bib_style.NAME)()
    formatted = list(style.format_entries(BIB.entries.values()))
    assert len({f.label for f in formatted}) == len(formatted), "two entries share a label"


def test_bibliography_entries_link_back_to_the_pages_that_cite_them(tmp_path):
    sys.path.insert(0, str(ROOT / "_ext"))
    import bib_style

    (tmp_path / "chapters").mkdir()
    entry = '<div class="citation" id="id{n}" role="doc-biblioentry">\n<span class="label">L</span>\n<p>Work {n}.</p>\n</div>\n'
    bib = tmp_path / "chapters" / "bibliography.html"
    bib.write_text("<title>Bibliography</title>" + entry.format(n=1) + entry.format(n=2), encoding="utf-8")
    (tmp_path / "chapters" / "01_a.html").write_text(
        '<title>1. A &#8212; book</title><a href="bibliography.html#id1">x</a><a href="bibliography.html#id1">y</a>')
    (tmp_path / "index.html").write_text('<title>Home &#8212; book</title><a href="chapters/bibliography.html#id1">z</a>')
    assert bib_style.add_cited_in(tmp_path) == 1
    assert bib_style.add_cited_in(tmp_path) == 1                    # a second build does not add a second line
    text = bib.read_text(encoding="utf-8")
    assert text.count("l2o-cited-in") == 1
    assert 'Cited in: <a href="01_a.html">1. A</a>, <a href="../index.html">Home</a>' in text
