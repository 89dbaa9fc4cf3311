"""Sphinx extension with the book's small fixes to its toolchain.

* Drop repeated inline scripts from each page. With Jupyter Book 1.0 some extensions (sphinx-thebe,
  sphinx-togglebutton) register their inline configuration twice in one build, so pages declare
  `const THEBE_JS_URL` twice and the browser reports a SyntaxError.
* Serve the "Open in Colab" badge from the book (`_assets/colab-badge.svg`, copied to `_static/`). The
  notebooks keep Colab's own badge URL (it must work on GitHub and in Colab); in the HTML book it becomes a
  local file, so an offline workshop room sees the badge instead of a broken image. The link itself is kept.
* The bibliography's author-year labels (`bib_style.py`, selected by `bibtex_default_style` in _config.yml), and
  under each entry the pages that cite it (sphinxcontrib-bibtex links back only within one page).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bib_style

COLAB_BADGE_URL = "https://colab.research.google.com/assets/colab-badge.svg"


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (getattr(js, "filename", None) or "", tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def _local_colab_badge(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if COLAB_BADGE_URL in text:
            rel = os.path.relpath(out / "_static" / "colab-badge.svg", page.parent).replace(os.sep, "/")
            page.write_text(text.replace(f'src="{COLAB_BADGE_URL}"', f'src="{rel}"'), encoding="utf-8")


def _cited_in(app: Any, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        bib_style.add_cited_in(app.outdir)


def setup(app: Any) -> dict[str, Any]:
    bib_style.register()
    # late, after the handlers that add page-specific scripts (MathJax is added only to pages with math)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _local_colab_badge)
    app.connect("build-finished", _cited_in)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
