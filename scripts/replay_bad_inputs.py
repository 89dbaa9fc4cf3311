"""Count the bad inputs of ``tests/bad_input_cases.py`` that the importable ``l2o_lib`` handles clearly.

    python scripts/replay_bad_inputs.py              # this checkout (PYTHONPATH=$PWD)
    PYTHONPATH=/path/to/older/checkout python scripts/replay_bad_inputs.py --verbose

Handled: the case's error type with a message naming the problem, or the right answer. Only public API is
called, so an older library gives the "before" count.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verbose", action="store_true", help="print every case and what happened")
    args = ap.parse_args(argv)
    from bad_input_cases import CASES, outcome

    import l2o_lib

    handled = 0
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            ok, what = outcome(case, Path(tmp))
        handled += ok
        if args.verbose or not ok:
            print(f"{'ok  ' if ok else 'FAIL'} {case.id}: {what}")
    print(f"{handled} of {len(CASES)} bad inputs handled clearly by {Path(l2o_lib.__file__).parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
