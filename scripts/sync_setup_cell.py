"""Bring cells 1-2 of chapter notebooks to the current convention (for a new chapter, or after the setup cell changed).

    python scripts/sync_setup_cell.py [NOTEBOOK ...]     # default: chapters/*.ipynb

The setup cell's text above ``# ---- imports, seed, device, quick mode`` is replaced by the copy in DEVELOPING.md
(the one the hygiene test holds the notebooks to), ``runtime.setup(`` gets ``quick=QUICK``, the cell gets the
``hide-input`` tag, and the Colab badge of cell 1 is pointed at the student notebook. Only those two cells change;
the notebook's JSON layout is kept.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "# ---- imports, seed, device, quick mode\n"


def canonical_head() -> str:
    text = (ROOT / "DEVELOPING.md").read_text()
    m = re.search(r"```python\n(# @title Setup: in Colab.*?)" + re.escape(MARK), text, re.S)
    if not m:
        raise ValueError("DEVELOPING.md: no ```python block starting with '# @title Setup: in Colab' and the imports "
                         "marker")
    return m.group(1)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def sync(path: Path, head: str) -> bool:
    raw = path.read_text()
    nb = json.loads(raw)
    title, setup = nb["cells"][0], next(c for c in nb["cells"] if c["cell_type"] == "code")
    src = "".join(setup["source"])
    if MARK not in src:
        raise ValueError(f"{path.name}: the first code cell has no '{MARK.strip()}' line")
    rest = src.split(MARK, 1)[1]
    if "quick=QUICK" not in rest:
        rest, n = re.subn(r"runtime\.setup\(seed=(\d+)", r"runtime.setup(seed=\1, quick=QUICK", rest, count=1)
        if not n:
            raise ValueError(f"{path.name}: no 'runtime.setup(seed=N' after the imports marker")
    setup["source"] = _lines(head + MARK + rest)
    tags = setup.setdefault("metadata", {}).setdefault("tags", [])
    if "hide-input" not in tags:
        tags.append("hide-input")
    badge = "".join(title["source"]).replace(f"/chapters/{path.name})", f"/students/{path.name})")
    title["source"] = _lines(badge)
    out = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if out != raw:
        path.write_text(out)
        return True
    return False


def main(argv: list[str]) -> int:
    head = canonical_head()
    paths = [Path(a) for a in argv] or sorted((ROOT / "chapters").glob("*.ipynb"))
    for p in paths:
        if sync(p, head):
            print(f"updated {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
