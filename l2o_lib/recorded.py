"""Tables of what was recorded, generated rather than pasted: the headline figures of shipped models (their
cards) and the recorded run times of the notebooks (``data/run_times.json``).

A chapter shows "the full-mode run that shipped these models" with ``headline_table(names)``, so its numbers are
always the ones the cards hold.
"""

from __future__ import annotations

import json
from typing import Any

from l2o_lib import pretrained
from l2o_lib.paths import data_dir

COLUMNS = ("model", "method", "n", "gap % (mean / max)", "eq. viol. (mean / max)", "ineq. viol. (mean / max)",
           "targets")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return "0" if value == 0 else f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.1e}"
    return str(value)


def _pair(row: dict[str, Any], key: str) -> str:
    return f"{_fmt(row.get(key + '_mean'))} / {_fmt(row.get(key + '_max'))}"


def headline_rows(name: str) -> list[dict[str, Any]]:
    """The headline rows of one shipped model: its headline (``metrics.Row`` fields), then the further rows its
    card records as dicts in ``headline_extra``, each with ``model``, ``method`` and ``n``."""
    card = pretrained.card(name)
    if not card.headline:
        raise ValueError(f"model card {name!r} records no headline figures")
    rows = [dict(card.headline)] + [v for v in card.headline_extra.values() if isinstance(v, dict)]
    return [{**r, "model": name, "method": r.get("method", card.description), "n": r.get("n")} for r in rows]


def headline_table(names: list[str]) -> str:
    """A Markdown table of the headline figures and targets that the cards of ``names`` record."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name in names:
        targets = ", ".join(f"{k} {_fmt(v)}" for k, v in pretrained.card(name).targets.items()) or "–"
        for r in headline_rows(name):
            cells = [f"`{name}`", str(r["method"]), _fmt(r["n"]), _pair(r, "gap"), _pair(r, "eq"), _pair(r, "ineq"),
                     targets]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recorded_run(notebook: str, mode: str = "full") -> dict[str, Any] | None:
    """The last recorded run of ``notebook`` in ``mode`` (seconds, date, ok) from run_times.json, or None."""
    path = data_dir() / "run_times.json"
    if not path.is_file():
        return None
    runs = json.loads(path.read_text(encoding="utf-8")).get("runs", {})
    found = [r["notebooks"][notebook] for key, r in runs.items() if r.get("mode") == mode and notebook in r.get("notebooks", {})]
    return max(found, key=lambda r: r.get("date", "")) if found else None
