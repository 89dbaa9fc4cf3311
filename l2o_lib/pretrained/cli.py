"""``python -m l2o_lib.pretrained``: sign (``--write-manifest``) and check (``--check``) the shipped models."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from l2o_lib.paths import DATA_ENV, data_dir
from l2o_lib.pretrained.card import CardError, ModelCard
from l2o_lib.pretrained.store import card_paths, read_json, read_manifest, sign, verified_weights


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m l2o_lib.pretrained", description="Sign and check the shipped models.")
    ap.add_argument("--write-manifest", action="store_true",
                    help="rewrite manifest.json from the cards and weights in the folder (idempotent)")
    ap.add_argument("--check", action="store_true", help="verify every card and weights file against the manifest")
    ap.add_argument("--data-dir", type=Path, default=None, help=f"folder (default ${DATA_ENV} or data/)")
    args = ap.parse_args(argv)
    folder = args.data_dir or data_dir()
    if not folder.is_dir():
        ap.error(f"--data-dir {folder} is not a folder")
    if args.write_manifest:
        path = sign(folder)
        print(f"signed {len(read_manifest(folder))} model(s) in {path}")
    if args.check or not args.write_manifest:
        bad = 0
        for p in card_paths(folder):
            try:
                verified_weights(ModelCard.from_dict(read_json(p), str(p)), folder)
            except (CardError, FileNotFoundError) as exc:
                bad += 1
                print(f"FAIL {exc}", file=sys.stderr)
        print(f"{len(card_paths(folder)) - bad} of {len(card_paths(folder))} model(s) match the manifest")
        return 1 if bad else 0
    return 0


