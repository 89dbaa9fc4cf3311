"""Sphinx extension with the book's small fixes to its toolchain.

* Drop repeated inline scripts from each page. With Jupyter Book 1.0 some extensions (sphinx-thebe,
  sphinx-togglebutton) register their inline configuration twice in one build, so pages declare
  `const THEBE_JS_URL` twice and the browser reports a SyntaxError.
"""

from __future__ import annotations

from typing import Any


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


def setup(app: Any) -> dict[str, Any]:
    # late, after the handlers that add page-specific scripts (MathJax is added only to pages with math)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
