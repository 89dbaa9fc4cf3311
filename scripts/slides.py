"""Slide decks for the workshop's hands-on slots, built from the book's own sources.

    python scripts/slides.py EXECUTED_FOLDER OUT_FOLDER   # e.g. _build/html/downloads/executed /tmp/slides

One self-contained HTML file per hands-on slot of every plan in ``chapters/workshop_plan.yml``
(``PLAN-NN.html``, the name ``book_pages.slides_name`` gives): a title slide with the slot's minutes, one slide per
live cell the slot runs (what to say as its headline and caption, its output from the executed notebook: figures
embedded as PNG, printed lines and results tables; the code folded under it), the questions for the room, the
recommended exercise and a closing slide. The book build writes them (``_ext/book_fixes.py``, from the notebooks
it has just executed) into ``downloads/slides/``. Nothing is fetched from a network: the arrow keys, Page Up/Down
and a click move between slides with a few lines of inline script, math uses the book's own MathJax copy
(``_static/mathjax``) when the deck sits inside the built book, and printing gives one slide per page (a PDF
handout).
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_pages  # noqa: E402
import chapters_lib as cl  # noqa: E402

MAX_CODE_LINES, MAX_TEXT_LINES = 24, 14
MAX_HTML = 150_000  # characters of an HTML output shown as it is; a larger one (a static slider) shows its last frame
_FRAME = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")  # the frames of a static slider, wherever they sit
MATHJAX = "../../_static/mathjax/tex-chtml.js"  # from downloads/slides/ in the built book

STYLE = """
html, body { margin: 0; height: 100%; background: #fff; color: #1f2933;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
section.slide { display: none; box-sizing: border-box; height: 100vh; padding: 3vh 5vw 7vh; overflow: auto; }
section.slide.current { display: block; }
h1 { font-size: 2.6em; margin: 0.6em 0 0.3em; } h2 { font-size: 1.7em; margin: 0.2em 0 0.4em; color: #0b4f6c; }
p, li { font-size: 1.25em; line-height: 1.45; }
.kicker { color: #c2410c; font-weight: 600; letter-spacing: 0.03em; text-transform: uppercase; font-size: 0.95em; }
.say { border-left: 4px solid #c2410c; padding: 0.3em 0.8em; margin-top: 1em; background: #fff7ed; }
.output img { max-width: 100%; max-height: 58vh; display: block; margin: 0.4em auto; }
pre { font-size: 1.05em; background: #f5f7fa; padding: 0.6em 0.9em; overflow-x: auto; border-radius: 4px; }
details summary { cursor: pointer; color: #52606d; margin-top: 0.8em; }
table { border-collapse: collapse; font-size: 0.95em; margin: 0.4em 0; }
th, td { border: 1px solid #cbd2d9; padding: 0.2em 0.5em; }
.minutes td, .minutes th { font-size: 1.1em; padding: 0.3em 0.8em; }
footer#bar { position: fixed; bottom: 0; left: 0; right: 0; padding: 0.6vh 2vw; font-size: 0.85em; color: #7b8794;
  display: flex; justify-content: space-between; background: rgba(255, 255, 255, 0.9); }
@media print {
  section.slide { display: block; height: auto; min-height: 100vh; page-break-after: always; overflow: visible; }
  footer#bar { display: none; }
}
"""

SCRIPT = """
(function () {
  var slides = Array.prototype.slice.call(document.querySelectorAll("section.slide"));
  var counter = document.getElementById("counter");
  var i = Math.max(0, Math.min(slides.length - 1, parseInt(location.hash.slice(1) || "1", 10) - 1 || 0));
  function show(k) {
    i = Math.max(0, Math.min(slides.length - 1, k));
    slides.forEach(function (s, j) { s.classList.toggle("current", j === i); });
    counter.textContent = (i + 1) + " / " + slides.length;
    history.replaceState(null, "", "#" + (i + 1));
  }
  document.addEventListener("keydown", function (e) {
    if (["ArrowRight", "ArrowDown", "PageDown", " "].indexOf(e.key) >= 0) { show(i + 1); e.preventDefault(); }
    if (["ArrowLeft", "ArrowUp", "PageUp", "Backspace"].indexOf(e.key) >= 0) { show(i - 1); e.preventDefault(); }
    if (e.key === "Home") { show(0); } if (e.key === "End") { show(slides.length - 1); }
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest("a, summary, details, pre")) { return; }
    show(e.clientX > window.innerWidth / 3 ? i + 1 : i - 1);
  });
  show(i);
})();
"""


def _md(text: str) -> str:
    """CommonMark (with tables) to HTML; math stays as written for MathJax."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text)


def _code(source: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    lines = source.splitlines()
    if len(lines) > MAX_CODE_LINES:
        lines = lines[:MAX_CODE_LINES] + [f"# ... {len(lines) - MAX_CODE_LINES} more lines in the notebook"]
    return highlight("\n".join(lines), PythonLexer(), HtmlFormatter(noclasses=True, nowrap=False))


def _outputs(cell: Any) -> str:
    """A live cell's output as the room should see it: its last figure, its Markdown tables, its printed lines."""
    figures, tables, text = [], [], []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") == "stdout":
            text += str(out.get("text", "")).splitlines()
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "image/png" in data:
                figures.append(f'<img alt="figure" src="data:image/png;base64,{"".join(data["image/png"]).strip()}">')
            elif "text/markdown" in data:
                tables.append(_md(str(data["text/markdown"])))
            elif "text/html" in data:
                page = str(data["text/html"])
                frames = _FRAME.findall(page)
                if len(page) > MAX_HTML and frames:  # a static slider: its last frame, not every frame
                    figures.append(f'<img alt="figure" src="{frames[-1]}">')
                elif "<table" in page and len(page) <= MAX_HTML:
                    tables.append(page)
            elif "text/plain" in data and "application/vnd.jupyter.widget-view+json" not in data:
                text += str(data["text/plain"]).splitlines()
    text = [ln for ln in text if ln.strip()]
    if len(text) > MAX_TEXT_LINES:
        text = text[:MAX_TEXT_LINES] + [f"... ({len(text) - MAX_TEXT_LINES} more lines)"]
    parts = figures[-1:] + tables + ([f"<pre>{html.escape(chr(10).join(text))}</pre>"] if text else [])
    return "".join(parts) or "<p><em>This cell shows its result in the notebook only (an interactive widget).</em></p>"


def _exercise_markdown(student: Any, number: str) -> str:
    """The exercise's text as the participants' notebook shows it (CommonMark: roles and links already converted)."""
    for cell in student.cells:
        if cell.cell_type == "markdown" and cell.source.startswith(f"> **Exercise {number}"):
            return "\n".join(re.sub(r"^> ?", "", line) for line in cell.source.splitlines())
    return ""


def _slide(body: str, kicker: str = "") -> str:
    head = f'<p class="kicker">{html.escape(kicker)}</p>' if kicker else ""
    return f'<section class="slide">{head}{body}</section>'


def deck(plan: dict[str, Any], span: str, slot: dict[str, Any], info: dict[str, Any], agenda: dict[str, Any],
         executed: Any, student: Any | None, colab: str) -> str:
    """The HTML of one hands-on slot's deck."""
    entry = agenda["chapters"].get(slot["chapter"], {})
    say = {x["cell"]: " ".join(str(x["say"]).split()) for x in entry.get("live", [])}
    budget = book_pages.slot_budget(slot, agenda, info)
    live = book_pages.slot_live(slot, info)
    by_id = {c.get("id"): c for c in executed.cells} if executed is not None else {}
    title = html.escape(info["title"])
    slides = [_slide(
        f"<h1>{title}</h1><p>{html.escape(info['summary'])}</p>"
        f'<table class="minutes"><tr><th>talk</th><th>live cells</th><th>exercise</th><th>Colab install</th></tr>'
        f"<tr><td>{budget['talk']} min</td><td>{budget['n_live']} × {agenda['live_cell_minutes']} min</td>"
        f"<td>{budget['exercises']} min</td><td>{budget['installs']} min</td></tr></table>"
        f'<p>Open the participant notebook: <a href="{html.escape(colab)}">{html.escape(colab)}</a><br>'
        "Run its setup cell now: Colab gives every notebook a fresh runtime, so it clones and installs again "
        f"(about {agenda['install_minutes']} minutes). Keep <code>QUICK</code> ticked.</p>",
        kicker=f"{plan['title']} · {span} · {slot['minutes']} min")]
    for k, cell in enumerate(live, 1):
        source = by_id.get(cell["id"])
        out = _outputs(source) if source is not None else "<p><em>Not executed in this build.</em></p>"
        code = f"<details><summary>the code (cell {cell['index']})</summary>{_code(source.source)}</details>" \
            if source is not None else ""
        words = cl.sentences(say.get(cell["id"], "")) or [cell["first_line"][:80]]  # headline: what to say, first
        caption = f'<p class="say">{html.escape(" ".join(words[1:]))}</p>' if words[1:] else ""
        slides.append(_slide(f'<h2>{html.escape(words[0])}</h2><div class="output">{out}</div>'
                             f"{caption}{code}", kicker=f"▶ live cell {k} of {len(live)} · {title}"))
    if entry.get("questions"):
        items = "".join(f"<li>{html.escape(' '.join(str(q).split()))}</li>" for q in entry["questions"])
        slides.append(_slide(f"<h2>Questions for the room</h2><ul>{items}</ul>", kicker=title))
    best = book_pages.recommended(info)
    if best is not None:
        rec = best["recommended"]
        text = _md(_exercise_markdown(student, best["number"])) if student is not None else ""
        slides.append(_slide(
            f"<h2>Exercise {best['number']}: {html.escape(best['title'])}</h2>{text}"
            f"<p><strong>{budget['exercises']} min</strong> in the room (the exercise needs about {rec['minutes']} min, "
            f"{rec['difficulty']}). Your notebook has a starter cell under the exercise and a check cell that prints "
            "<em>correct</em> or <em>not yet</em>.</p>", kicker="your turn"))
    minutes = book_pages.reading_minutes(info["words"], agenda["reading_words_per_minute"])
    slides.append(_slide(f"<h2>After the session</h2><p>Read the chapter at your pace: about {minutes} minutes of prose, "
                         "every result reproduced on the page, the \"What goes wrong\" section and the other exercises "
                         "with their solutions.</p>", kicker=title))
    math = any("$" in s for s in slides)
    mathjax = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']]}};</script>"
               f'<script async src="{MATHJAX}"></script>') if math else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{title}: {html.escape(plan["title"])}</title>'
            f"<style>{STYLE}</style>{mathjax}</head><body>{''.join(slides)}"
            f'<footer id="bar"><span>{title} · {html.escape(plan["title"])}</span><span>← → to move · print for a PDF'
            f' · <span id="counter"></span></span></footer><script>{SCRIPT}</script></body></html>\n')


def build_decks(executed: Path, out: Path, *, folder: Path = cl.CHAPTERS, plan_path: Path = book_pages.PLAN_PATH,
                students: Path = cl.ROOT / "students") -> list[Path]:
    """Write one deck per hands-on slot (chapters that are in the book) into ``out``; returns the files written.

    ``executed`` holds the executed notebooks (``NN_slug.ipynb``); a notebook missing there gives a deck without
    outputs, which says so on each live slide."""
    import nbformat

    sys.path.insert(0, str(cl.ROOT / "scripts"))
    from make_student_notebooks import colab_url

    agenda = book_pages.load_plan(plan_path)
    infos = {p.name[:2]: cl.notebook_info(p) for p in cl.notebooks(folder, chapters_only=True)}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for plan in agenda["plans"]:
        for span, slot in book_pages.schedule(plan):
            info = infos.get(slot.get("chapter", ""))
            if info is None or slot.get("format") != "hands-on":
                continue
            nb_path, st_path = executed / info["name"], students / info["name"]
            nb = nbformat.read(nb_path, as_version=4) if nb_path.is_file() else None
            student = nbformat.read(st_path, as_version=4) if st_path.is_file() else None
            target = out / book_pages.slides_name(plan, slot)
            target.write_text(deck(plan, span, slot, info, agenda, nb, student,
                                   colab_url(f"students/{info['name']}")), encoding="utf-8")
            written.append(target)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    for path in build_decks(Path(argv[0]), Path(argv[1])):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
