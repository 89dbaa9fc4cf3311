"""Copy the assets the HTML book must serve itself (no CDN) into _assets/ before a build.

MathJax 3 comes from the `django-static-mathjax` wheel (pure files, no Django needed at run time), pinned in
constraints/ci.txt. `_config.yml` lists `_assets` in `html_static_path` and points `mathjax_path` at
`mathjax/tex-chtml.js`, served as `_static/mathjax/` in the HTML, so pages render math with no network.
The copy is generated, ignored by git, and refreshed when missing.

Not `_static/`: Jupyter Book 1 adds every .js file under a `_static/` folder to every page, which would load
all of MathJax's components at once.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "_assets" / "mathjax"


def mathjax_source() -> Path:
    try:
        import mathjax  # the django-static-mathjax wheel installs its files under this package
    except ImportError as exc:
        raise SystemExit("MathJax files missing: pip install django-static-mathjax (see constraints/ci.txt)") from exc
    src = Path(next(iter(mathjax.__path__))) / "static" / "mathjax" / "es5"
    if not (src / "tex-chtml.js").is_file():
        raise SystemExit(f"unexpected layout of the MathJax package: {src / 'tex-chtml.js'} not found")
    return src


def main() -> int:
    src = mathjax_source()
    if (TARGET / "tex-chtml.js").is_file() and (TARGET / "tex-chtml.js").stat().st_size == (src / "tex-chtml.js").stat().st_size:
        return 0
    if TARGET.exists():
        shutil.rmtree(TARGET)
    shutil.copytree(src, TARGET, ignore=shutil.ignore_patterns("*.map", "sre", "mml-chtml*", "mml-svg*", "tex-svg*"))
    size = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file())
    print(f"[static] MathJax copied to {TARGET.relative_to(ROOT)} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
