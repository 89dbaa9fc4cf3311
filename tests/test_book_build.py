"""The book builds (every chapter executed, quick mode) with warnings as errors, and every page is there."""

import re

from test_hygiene import _toc_files


def test_book_builds_with_every_page(built_book):
    for entry in _toc_files():
        page = built_book / f"{entry}.html"
        assert page.is_file(), f"{page} was not built"
        text = page.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" not in text, f"{entry}: a cell error was rendered"
    # executed notebooks carry their outputs in the HTML: every chapter draws matplotlib figures, so each
    # page must embed rendered PNGs (a non-inline backend in the kernel would silently drop them all)
    for entry in _toc_files():
        if re.match(r"chapters/\d\d_", entry):
            text = (built_book / f"{entry}.html").read_text(encoding="utf-8")
            n_png = len(re.findall(r'<img[^>]+src="[^"]*\.png"', text))
            assert n_png >= 1, f"{entry}: no rendered figure in the built page"
            assert "<table" in text, f"{entry}: no results table in the built page"


def test_setup_cell_is_behind_a_toggle_and_badges_open_student_notebooks(built_book):
    for entry in _toc_files():
        path = built_book / f"{entry}.html"
        text = path.read_text(encoding="utf-8")
        at = text.find("Setup: in Colab, fetch the book")
        if at < 0:
            continue
        cell = text[text.rindex('<div class="cell ', 0, at):at]
        assert "tag_hide-input" in cell and "<details" in cell, f"{entry}: the setup cell's input is not hidden"
        links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', text)
        assert links and all("/students/" in h for h in links), f"{entry}: Colab links {links}"


def test_every_bibliography_entry_says_where_it_is_cited(built_book):
    text = (built_book / "chapters" / "bibliography.html").read_text(encoding="utf-8")
    entries, cited_in = text.count('class="citation"'), text.count('class="l2o-cited-in"')
    assert entries > 0 and cited_in == entries, f"{entries} bibliography entries, {cited_in} with their citing pages"


def test_slide_decks_are_built_and_linked(built_book):
    import sys

    sys.path.insert(0, str(built_book.parent.parent / "scripts"))
    import book_pages

    agenda = book_pages.load_plan()
    expected = {book_pages.slides_name(p, s) for p in agenda["plans"] for s in p["slots"] if s.get("format") == "hands-on"}
    folder = built_book / "downloads" / "slides"
    assert expected and {p.name for p in folder.glob("*.html")} == expected
    for name in expected:
        page = (folder / name).read_text(encoding="utf-8")
        assert page.count('<section class="slide">') >= 4 and "data:image/png;base64," in page, name
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?:', page), f"{name} loads something from a network"
    for doc in ("instructor_guide", "presenter"):
        text = (built_book / "chapters" / f"{doc}.html").read_text(encoding="utf-8")
        linked = set(re.findall(r'href="\.\./downloads/slides/([^"]+\.html)"', text))
        assert linked == expected, f"{doc}: decks linked {sorted(linked)}"
    assert (built_book / "downloads" / "l2o-book-slides.zip").is_file()


def test_exercises_are_numbered_by_chapter(built_book):
    text = (built_book / "chapters" / "09_closed_loop_mpc.html").read_text(encoding="utf-8")
    assert "Exercise 9.2" in text and "Exercise 9.1" in text and not re.search(r"Exercise \d{2,}\b", text)
