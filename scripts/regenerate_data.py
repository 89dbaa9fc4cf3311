"""Regenerate every file in data/: execute the chapters in full mode with L2O_SAVE_PRETRAINED=1.

The notebooks are the single source of the shipped weights: each one trains its models in full mode and,
with the flag set, writes them through `l2o_lib.pretrained.save` (weights + card with sha256 and headline
figures). Labeled data sets are written by `l2o_lib.datasets.labeled` when a chapter asks for them.

    python scripts/regenerate_data.py                 # every chapter
    python scripts/regenerate_data.py 02 07           # chapters whose file name starts with 02 or 07
    python scripts/regenerate_data.py --list          # what would run, and the models each chapter ships

Executed notebooks go to _build/regenerated/ (the chapters in git stay output-free).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chapters(prefixes: list[str]) -> list[Path]:
    paths = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(x) for x in prefixes)]
        if not paths:
            raise SystemExit(f"no chapter matches {prefixes}")
    return paths


def shipped_by(path: Path) -> list[str]:
    names = []
    for card in sorted((ROOT / "data").glob("*.json")):
        try:
            info = json.loads(card.read_text())
        except ValueError:
            continue
        if "loader" in info and path.stem in info.get("chapter", "") + info.get("regenerate", ""):
            names.append(info["name"])
    return names


def run(path: Path, timeout: int) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ.update(L2O_QUICK="0", L2O_SAVE_PRETRAINED="1", MPLBACKEND="Agg")
    try:
        t0 = time.perf_counter()
        resources = {"metadata": {"path": str(ROOT / "chapters")}}
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources).execute()
        seconds = time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    out = ROOT / "_build" / "regenerated" / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return seconds


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefixes", nargs="*", help="chapter file-name prefixes, e.g. 02 07")
    ap.add_argument("--list", action="store_true", help="list the chapters and the models they ship")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = ap.parse_args(argv)
    todo = chapters(args.prefixes)
    if args.list:
        for p in todo:
            print(f"{p.name}: {', '.join(shipped_by(p)) or '(no shipped model)'}")
        return 0
    for p in todo:
        print(f"[regenerate] {p.name} (full mode) ...", flush=True)
        seconds = run(p, args.timeout)
        print(f"[regenerate] {p.name}: {seconds:.0f} s; ships {', '.join(shipped_by(p)) or 'nothing'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
