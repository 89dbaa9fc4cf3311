"""``python -m l2o_lib.scaling [--quick] [--out data/scaling.json] [--plots DIR]``: run the sweeps, write JSON + plots."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l2o_lib.scaling", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small sweep (about a minute)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file (default data/scaling.json; data/scaling_quick.json with --quick)")
    parser.add_argument("--plots", type=Path, default=None, help="folder for the PNG figures (default: next to --out)")
    parser.add_argument("--families", nargs="+", default=None, help="only these families (default: every family of the sweep)")
    args = parser.parse_args(argv)
    # one XLA thread, like torch below: every method gets one core of the two, whatever the framework
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    from l2o_lib import scaling
    from l2o_lib.scaling import sweep

    cfg = sweep.QUICK if args.quick else sweep.FULL
    if args.families:
        unknown = set(args.families) - set(cfg.families)
        if unknown:
            parser.error(f"unknown families {sorted(unknown)}; known: {list(cfg.families)}")
        from dataclasses import replace

        cfg = replace(cfg, families=tuple(args.families))
    out = args.out or scaling.default_path(args.quick)
    try:  # before the sweep: a path that cannot be written fails now, not after ten minutes
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.is_dir():
            raise IsADirectoryError(f"{out} is a folder")
        with open(out, "a"):
            pass
    except OSError as exc:
        parser.error(f"--out {out}: cannot write there ({exc.strerror or exc})")
    doc = scaling.validate(sweep.run(cfg, mode="quick" if args.quick else "full"))
    out.write_text(json.dumps(doc, indent=1) + "\n")
    paths = scaling.save_plots(doc, args.plots or out.parent)
    print(f"wrote {out} and {', '.join(str(p) for p in paths)} ({doc['seconds']:.0f} s, "
          f"load average {doc['environment']['load_average']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
