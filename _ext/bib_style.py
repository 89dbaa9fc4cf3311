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
