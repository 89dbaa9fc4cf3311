"""The bibliography's labels: author-year ("Donti et al., 2021"), as the chapters cite, instead of pybtex's alpha
labels ("[DRK21]"). Entries are sorted by author and year and show their DOI or URL (pybtex's plain style)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle

NAME = "authoryear"


def _last(person: Any) -> str:
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


def author_year(entry: Any) -> str:
    """'Amos, 2023', 'Amos and Kolter, 2017', 'Donti et al., 2021' (editors when there is no author)."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    year = entry.fields.get("year", "n.d.")
    if not persons:
        return f"{Text.from_latex(entry.fields.get('title', entry.key)).render_as('text')}, {year}"
    if len(persons) == 1:
        who = _last(persons[0])
    elif len(persons) == 2:
        who = f"{_last(persons[0])} and {_last(persons[1])}"
    else:
        who = f"{_last(persons[0])} et al."
    return f"{who}, {year}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries: Iterable[Any]) -> Iterator[str]:
        entries = list(sorted_entries)
        labels = [author_year(e) for e in entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:               # two works with one label: 2017a, 2017b
                seen[label] += 1
                label = f"{label}{'abcdefghij'[seen[label] - 1]}"
            yield label


class AuthorYearStyle(PlainStyle):
    default_label_style = NAME


def register() -> None:
    register_plugin("pybtex.style.labels", NAME, AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", NAME, AuthorYearStyle, force=True)


def add_cited_in(outdir: Any, bibliography_page: str = "chapters/bibliography.html") -> int:
    """Write under each bibliography entry the pages that cite it (sphinxcontrib-bibtex links back only within
    one page). Returns the number of entries that got links."""
    import html
    import os
    import re
    from pathlib import Path

    out = Path(outdir)
    bib = out / bibliography_page
    if not bib.is_file():
        return 0
    cited: dict[str, list[tuple[str, str]]] = {}
    target = re.escape(bib.name)
    for page in sorted(out.rglob("*.html")):
        if page == bib or "_static" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        ids = dict.fromkeys(re.findall(rf'href="(?:[^"]*/)?{target}#(id\d+)"', text))
        if not ids:
            continue
        title = re.search(r"<title>(.*?)(?: &#8212;| —|</title>)", text, re.S)
        name = html.unescape(title.group(1)).strip() if title else page.stem
        rel = os.path.relpath(page, bib.parent).replace(os.sep, "/")
        for cid in ids:
            cited.setdefault(cid, []).append((rel, name))
    text = re.sub(r'\n<p class="l2o-cited-in">.*?</p>', "", bib.read_text(encoding="utf-8"))   # idempotent
    done = 0
    for cid, pages in cited.items():
        entry = re.search(rf'(<div class="citation" id="{cid}"[^>]*>.*?</p>)(\s*</div>)', text, re.S)
        if not entry:
            continue
        links = ", ".join(f'<a href="{rel}">{html.escape(name)}</a>' for rel, name in pages)
        text = text[:entry.end(1)] + f'\n<p class="l2o-cited-in">Cited in: {links}</p>' + text[entry.end(1):]
        done += 1
    bib.write_text(text, encoding="utf-8")
    return done
