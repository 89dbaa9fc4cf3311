"""Sphinx extension with the book's small fixes to its toolchain.

* Drop repeated inline scripts from each page. With Jupyter Book 1.0 some extensions (sphinx-thebe,
  sphinx-togglebutton) register their inline configuration twice in one build, so pages declare
  `const THEBE_JS_URL` twice and the browser reports a SyntaxError.
* Serve the "Open in Colab" badge from the book (`_assets/colab-badge.svg`, copied to `_static/`). The
  notebooks keep Colab's own badge URL (it must work on GitHub and in Colab); in the HTML book it becomes a
  local file, so an offline workshop room sees the badge instead of a broken image. The link itself is kept.
* Mark the cells an instructor runs live (cell tag `workshop-live`; myst-nb gives their container the class
  `tag_workshop-live`) with a coloured bar and a "run live in the workshop" label; printed, the presenter view
  starts each chapter's outline on a new page.
* Workshop fallbacks, written into the HTML output after the build: every executed notebook with its outputs
  (`downloads/executed/NAME.ipynb`, and all of them in `downloads/l2o-book-executed-notebooks.zip`) and, when
  `l2o_offline_archive` is on (the default), the whole HTML book as one archive (`downloads/l2o-book-html.zip`,
  unpacked it opens offline at `l2o-book-html/index.html`), and the workshop's slide decks, one per hands-on slot of
  every plan (`downloads/slides/PLAN-NN.html`, all in `downloads/l2o-book-slides.zip`; `scripts/slides.py`).
* Number exercises by chapter: "Exercise 9.2" is the second exercise of `chapters/09_*`, as the prose, the student
  notebooks and the workshop plans call it (sphinx-exercise would number them through the whole book).
* The bibliography's author-year labels (`bib_style.py`, selected by `bibtex_default_style` in _config.yml), and
  under each entry the pages that cite it (sphinxcontrib-bibtex links back only within one page).
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import bib_style

COLAB_BADGE_URL = "https://colab.research.google.com/assets/colab-badge.svg"
LIVE_CSS_FILE = "l2o-workshop.css"
LIVE_CSS = """\
div.cell.tag_workshop-live { border-left: 4px solid #c2410c; padding-left: 0.5em; }
div.cell.tag_workshop-live::before {
  content: "\\25B6  run live in the workshop"; display: block; margin-bottom: 0.2em;
  font-size: 0.75em; font-weight: 600; letter-spacing: 0.02em; color: #c2410c;
}
@media print { section#presenter-view > section + section { break-before: page; } }
"""
DOWNLOADS = "downloads"
EXECUTED_ZIP = "l2o-book-executed-notebooks.zip"
OFFLINE_ZIP = "l2o-book-html.zip"
OFFLINE_ROOT = "l2o-book-html"
SLIDES, SLIDES_ZIP = "slides", "l2o-book-slides.zip"


def _slides(executed: Path, out: Path) -> list[Path]:
    """One slide deck per hands-on workshop slot, from the notebooks this build executed (scripts/slides.py)."""
    import sys

    scripts = str(Path(__file__).resolve().parent.parent / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    import slides

    if out.exists():
        shutil.rmtree(out)
    return slides.build_decks(executed, out)


_CHAPTER_DOC = re.compile(r"(?:^|/)(\d\d)_[^/]*$")


def _number_exercises(app: Any, env: Any) -> list[str]:
    """Renumber each chapter's exercises (chapter, k) in document order, after Sphinx assigned its book-wide numbers."""
    for doc, numbers in env.toc_fignumbers.items():
        m = _CHAPTER_DOC.search(doc)
        table = numbers.get("exercise")
        if m and table:
            for k, node_id in enumerate(sorted(table, key=table.get), 1):
                table[node_id] = (int(m.group(1)), k)
    return []


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


def _write_live_css(app: Any, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        (static / LIVE_CSS_FILE).write_text(LIVE_CSS, encoding="utf-8")


def _executed_notebooks(app: Any) -> list[Path]:
    """The executed notebooks myst-nb wrote for this build's documents (``jupyter_execute/`` beside the output)."""
    folder = Path(app.outdir).parent / "jupyter_execute"
    docs = getattr(app.env, "found_docs", set())
    return sorted(p for p in folder.rglob("*.ipynb") if p.relative_to(folder).with_suffix("").as_posix() in docs)


def _workshop_downloads(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    target = out / DOWNLOADS
    executed = target / "executed"
    if executed.exists():
        shutil.rmtree(executed)
    executed.mkdir(parents=True)
    notebooks = _executed_notebooks(app)
    for nb in notebooks:
        shutil.copyfile(nb, executed / nb.name)
    _zip(target / EXECUTED_ZIP, [(p, p.name) for p in sorted(executed.iterdir())])
    if app.config.l2o_slides:
        decks = _slides(executed, target / SLIDES)
        _zip(target / SLIDES_ZIP, [(p, f"slides/{p.name}") for p in decks])
    if app.config.l2o_offline_archive:
        archive = target / OFFLINE_ZIP
        skip = {archive, target / EXECUTED_ZIP, target / SLIDES_ZIP}  # these are in the archive once, unzipped
        files = [p for p in sorted(out.rglob("*")) if p.is_file() and p not in skip and p.name != ".buildinfo"]
        _zip(archive, [(p, f"{OFFLINE_ROOT}/{p.relative_to(out).as_posix()}") for p in files])


def _zip(path: Path, members: list[tuple[Path, str]]) -> None:
    """Write the archive through a temporary name, so a half-written archive is never served."""
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for src, name in members:
            zf.write(src, name)
    tmp.replace(path)
def _cited_in(app: Any, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        bib_style.add_cited_in(app.outdir)


def setup(app: Any) -> dict[str, Any]:
    bib_style.register()
    app.connect("env-get-updated", _number_exercises, priority=900)  # after the toctree collector's numbering
    # late, after the handlers that add page-specific scripts (MathJax is added only to pages with math)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _local_colab_badge)
    app.add_config_value("l2o_offline_archive", True, "html")
    app.add_config_value("l2o_slides", True, "html")
    app.add_css_file(LIVE_CSS_FILE)
    app.connect("build-finished", _write_live_css)
    app.connect("build-finished", _cited_in)
    # after the badge fix and the cited-in lines, so that the archived pages carry both
    app.connect("build-finished", _workshop_downloads, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
