"""``python -m l2o_lib.mpc_sizes [--quick] [--out FILE] [--plot FILE]``: run the MPC size sweep, write JSON + plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l2o_lib.mpc_sizes", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two double-integrator horizons and one small tank (about a minute)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file (default data/mpc_sizes.json; data/mpc_sizes_quick.json with --quick)")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the sweep (default: next to --out)")
    args = parser.parse_args(argv)
    from l2o_lib import mpc_sizes
    from l2o_lib.mpc_sizes import sweep

    cfg = sweep.QUICK if args.quick else sweep.FULL
    out = args.out or mpc_sizes.default_path(args.quick)
    doc = mpc_sizes.validate(sweep.run(cfg, mode="quick" if args.quick else "full"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot = args.plot or out.with_suffix(".png")
    axes = mpc_sizes.plot_sizes(doc)
    axes[0][0].figure.tight_layout()
    axes[0][0].figure.savefig(plot, dpi=120)
    plt.close("all")
    print(mpc_sizes.table(doc))
    for t in mpc_sizes.target(doc):
        print(f"{t['system']} N={t['horizon']} {t['mode']}: {'MET' if t['met'] else 'not met: ' + '; '.join(t['reasons'])}")
    print(f"wrote {out} and {plot} ({doc['seconds']:.0f} s, load average {doc['environment']['load_average']} → "
          f"{doc['environment']['load_average_after']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
