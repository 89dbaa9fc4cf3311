"""Execute every chapter notebook on the device present and record how long each one takes.

    python scripts/run_chapters.py --quick                 # quick mode (L2O_QUICK=1), every notebook
    python scripts/run_chapters.py                         # full mode, as a reader in Colab runs them
    python scripts/run_chapters.py --quick 02 06           # only notebooks whose name starts with 02 or 06
    python scripts/run_chapters.py --report report.md      # also write a Markdown report
    python scripts/run_chapters.py --pages-only            # only regenerate chapters/_generated/*.md
    python scripts/run_chapters.py --sync-live-tags        # tag the workshop plan's live cells in the notebooks
    python scripts/run_chapters.py --quick --keep-times    # record only the live cells' outputs (a busy machine)

Each notebook (numbered chapters, found by their ``NN_`` file names, then ``scorecard.ipynb`` and
``workshop_check.ipynb``) runs in a fresh kernel with nbclient, in ``chapters/`` as its working folder; the
wall time, pass or fail, the failing cell and its error, and the slowest cell are recorded. Results are merged
into ``data/run_times.json`` under ``MODE/KIND`` (``quick/cpu``, ``full/gpu``, ...), notebook by notebook, and
a quick-mode run that passes also records what each ``workshop-live`` cell showed (figures, printed lines) with
its source's hash in ``data/live_outputs.json``, the presenter view's expected outputs. Then
the pages in ``chapters/_generated/`` are regenerated (``book_pages.py``: run times, status, exercises, the
workshop plans of ``chapters/workshop_plan.yml`` and the presenter view).

Exit status: 0 when every notebook ran, 1 when one failed (the weekly Colab workflow relies on it), 2 on bad
input (a missing run-times file with --pages-only, an empty prefix).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_pages  # noqa: E402
import chapters_lib as cl  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefixes", nargs="*", help="notebook file-name prefixes, e.g. 02 scorecard")
    ap.add_argument("--quick", action="store_true", help="quick mode (L2O_QUICK=1); default: full mode")
    ap.add_argument("--report", type=Path, help="write a Markdown report of this run to this file")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    ap.add_argument("--json", type=Path, default=cl.JSON_PATH,
                    help=f"run-times JSON (default {cl.JSON_PATH.relative_to(cl.ROOT)})")
    ap.add_argument("--folder", type=Path, default=cl.CHAPTERS, help="where the notebooks are (default chapters/)")
    ap.add_argument("--no-record", action="store_true", help="do not write the JSON or the generated pages")
    ap.add_argument("--pages-only", action="store_true", help="only regenerate chapters/_generated/ from the JSON")
    ap.add_argument("--sync-live-tags", action="store_true",
                    help="set the workshop-live tag on exactly the cells chapters/workshop_plan.yml names")
    ap.add_argument("--save-executed", type=Path, default=None, help="folder for the executed notebooks")
    ap.add_argument("--keep-times", action="store_true",
                    help="quick mode: record the live cells' outputs but leave the run times as they are")
    ap.add_argument("--live-json", type=Path, default=None,
                    help=f"live-cell outputs JSON (default: {cl.LIVE_PATH.name} beside the run-times JSON)")
    args = ap.parse_args(argv)
    args.live_json = args.live_json or args.json.with_name(cl.LIVE_PATH.name)

    try:
        if args.sync_live_tags:
            for path in cl.sync_live_tags(book_pages.load_plan(), args.folder):
                print(f"retagged {path}")
            return 0
        if args.pages_only:
            records = cl.load_records(args.json, must_exist=True)  # a wrong path must not blank the pages
            for p in book_pages.write_pages(records, args.folder, args.folder / "_generated",
                                            args.folder / "workshop_plan.yml", args.live_json):
                print(f"wrote {p}")
            return 0
        paths = cl.notebooks(args.folder, args.prefixes)
    except (FileNotFoundError, ValueError) as exc:
        print(f"run_chapters: {exc}", file=sys.stderr)
        return 2
    mode = "quick" if args.quick else "full"
    device = cl.describe_device()
    print(f"[run_chapters] {mode} mode on {cl.device_line(device)}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for path in paths:
        print(f"[run_chapters] {path.name} ...", flush=True)
        res = cl.execute(path, env=cl.timing_env(args.quick), timeout=args.timeout, save_to=args.save_executed)
        results[path.name] = res
        tail = "" if res["ok"] else f" FAILED at cell {res['cell']}: {res['error']}"
        print(f"[run_chapters] {path.name}: {res['seconds']:.1f} s{tail}", flush=True)
    live = {name: res.pop("live", None) for name, res in results.items()}
    if not args.no_record:
        records = cl.load_records(args.json)
        if not args.keep_times:
            records = cl.merge(records, mode, device, results)
            cl.save_records(records, args.json)
        if args.quick:
            outputs = cl.load_live(args.live_json)
            for name, cells in live.items():
                if cells is not None:
                    cl.merge_live(outputs, name, cells)
            cl.save_live(outputs, args.live_json)
        if args.folder.resolve() == cl.CHAPTERS.resolve():
            book_pages.write_pages(records, args.folder, live_path=args.live_json)
    text = book_pages.report(mode, device, results)
    if args.report:
        args.report.write_text(text)
    print(text)
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
