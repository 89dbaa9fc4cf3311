"""Regenerate every file in data/: execute the chapters in full mode with L2O_SAVE_PRETRAINED=1.

The notebooks are the single source of the shipped weights: each one trains its models in full mode and,
with the flag set, writes them through `l2o_lib.pretrained.save` (weights + card with sha256 and headline
figures). Labeled data sets are written by `l2o_lib.datasets.labeled` when a chapter asks for them.

    python scripts/regenerate_data.py                 # every chapter
    python scripts/regenerate_data.py 02 07           # chapters whose file name starts with 02 or 07
    python scripts/regenerate_data.py --list          # what would run, and the models each chapter ships

Executed notebooks go to _build/regenerated/ (the chapters in git stay output-free). Exit status 1 when a
chapter fails, 2 on bad input (an empty or unmatched prefix).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chapters_lib as cl  # noqa: E402

OUT = cl.ROOT / "_build" / "regenerated"
ENV = {"L2O_QUICK": "0", "L2O_SAVE_PRETRAINED": "1", "MPLBACKEND": "Agg"}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefixes", nargs="*", help="chapter file-name prefixes, e.g. 02 07")
    ap.add_argument("--list", action="store_true", help="list the chapters and the models they ship")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = ap.parse_args(argv)
    try:
        todo = cl.notebooks(cl.CHAPTERS, args.prefixes, chapters_only=True)
    except ValueError as exc:
        print(f"regenerate_data: {exc}", file=sys.stderr)
        return 2
    if args.list:
        models = cl.shipped_models()
        for p in todo:
            print(f"{p.name}: {', '.join(models.get(p.stem, [])) or '(no shipped model)'}")
        return 0
    failed = []
    for p in todo:
        print(f"[regenerate] {p.name} (full mode) ...", flush=True)
        res = cl.execute(p, env=ENV, timeout=args.timeout, save_to=OUT)
        ships = ", ".join(cl.shipped_models().get(p.stem, [])) or "nothing"
        if not res["ok"]:
            failed.append(p.name)
            print(f"[regenerate] {p.name} FAILED at cell {res['cell']}: {res['error']}", flush=True)
        else:
            print(f"[regenerate] {p.name}: {res['seconds']:.0f} s; ships {ships}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
