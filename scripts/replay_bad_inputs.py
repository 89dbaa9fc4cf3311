"""Count the bad inputs of ``tests/bad_input_cases.py`` that the importable ``l2o_lib`` handles clearly.

    python scripts/replay_bad_inputs.py              # this checkout (PYTHONPATH=$PWD)
    PYTHONPATH=/path/to/older/checkout python scripts/replay_bad_inputs.py --verbose
    python scripts/replay_bad_inputs.py --only control --isolate    # each case in its own process, 120 s each

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
    ap.add_argument("--only", choices=("all", "registry", "control"), default="all",
                    help="the registry/data cases, the solver-session and control-stack cases, or both")
    ap.add_argument("--isolate", action="store_true",
                    help="run each case in a fresh interpreter with a time limit: a crash or a hang is counted")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per case with --isolate")
    ap.add_argument("--case", type=int, default=None, help=argparse.SUPPRESS)  # one case, for --isolate
    args = ap.parse_args(argv)
    from bad_input_cases import CASES, outcome
    from control_bad_inputs import CONTROL_CASES

    import l2o_lib

    cases = {"all": CASES + CONTROL_CASES, "registry": CASES, "control": CONTROL_CASES}[args.only]
    if args.case is not None:
        with tempfile.TemporaryDirectory() as tmp:
            ok, what = outcome(cases[args.case], Path(tmp))
        print(("ok  " if ok else "FAIL") + " " + what)
        return 0
    counts = {"handled": 0, "not handled": 0, "crashed": 0, "hung": 0}
    for i, case in enumerate(cases):
        if args.isolate:
            ok, what, kind = _isolated(i, args)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                ok, what = outcome(case, Path(tmp))
            kind = "handled" if ok else "not handled"
        counts[kind] += 1
        if args.verbose or not ok:
            print(f"{'ok  ' if ok else 'FAIL'} {case.id}: {what}")
    print(f"{counts['handled']} of {len(cases)} bad inputs handled clearly by {Path(l2o_lib.__file__).parent}"
          + (f" (not handled {counts['not handled']}, crashed {counts['crashed']}, hung {counts['hung']})"
             if args.isolate else ""))
    return 0


def _isolated(i: int, args: argparse.Namespace) -> tuple[bool, str, str]:
    """Case ``i`` in a fresh interpreter: (handled, what happened, handled / not handled / crashed / hung)."""
    import subprocess

    cmd = [sys.executable, __file__, "--only", args.only, "--case", str(i)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return False, f"no answer in {args.timeout:.0f} s", "hung"
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        return False, f"the interpreter died (exit {r.returncode}): {tail[:160]}", "crashed"
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "FAIL (no output)"
    ok = line.startswith("ok")
    return ok, line[5:], "handled" if ok else "not handled"


if __name__ == "__main__":
    raise SystemExit(main())
