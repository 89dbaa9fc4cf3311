"""Execute every chapter notebook on the device present and record how long each one takes.

    python scripts/run_chapters.py --quick                 # quick mode (L2O_QUICK=1), every notebook
    python scripts/run_chapters.py                         # full mode, as a reader in Colab runs them
    python scripts/run_chapters.py --quick 02 06           # only notebooks whose name starts with 02 or 06
    python scripts/run_chapters.py --report report.md      # also write a Markdown report
    python scripts/run_chapters.py --pages-only            # only regenerate chapters/_generated/*.md from the JSON

Each notebook (numbered chapters, then ``scorecard.ipynb`` and ``workshop_check.ipynb``) runs in a fresh kernel
with nbclient, in ``chapters/`` as its working folder. For each one the script records the wall time, pass or
fail and, on failure, the failing cell and its error. The device is described once per run: torch's CUDA device
name, JAX's backend, the CPU model and core count. Results are merged into ``data/run_times.json`` under the key
``MODE/KIND`` (``quick/cpu``, ``full/gpu``, ...): a run replaces only the entries of its own mode and device
kind, notebook by notebook. The Markdown pages the book includes (``chapters/_generated/``: the chapter map's
run-time table, the workshop timing table and the exercise list) are then regenerated from that JSON and the
notebooks, so no figure on those pages is typed by hand.

Exit status: 0 when every notebook ran, 1 when one failed (the weekly Colab workflow relies on it).
This is the one command to run on a GPU machine to confirm the chapters run there.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
JSON_PATH = ROOT / "data" / "run_times.json"
GENERATED = CHAPTERS / "_generated"
SCHEMA = "l2o-book/run-times/1"
#: notebooks that are not numbered chapters but run with them, in this order after the chapters
EXTRA = ("scorecard.ipynb", "workshop_check.ipynb")


# ----------------------------------------------------------------------------------------------- what to run
def notebooks(folder: Path = CHAPTERS, prefixes: list[str] | None = None) -> list[Path]:
    """The numbered chapters in order, then the extra notebooks that exist; filtered by name prefixes."""
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb")) + [folder / n for n in EXTRA if (folder / n).is_file()]
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(x) for x in prefixes)]
        if not paths:
            raise SystemExit(f"no notebook in {folder} matches {prefixes}")
    return paths


# ------------------------------------------------------------------------------------------ where it runs
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def describe_device() -> dict[str, Any]:
    """torch's CUDA device (or None), JAX's backend (or None), CPU model and core count, and the kind."""
    info: dict[str, Any] = {"cpu": _cpu_model(), "cores": os.cpu_count(), "torch_cuda": None, "jax_backend": None,
                            "python": sys.version.split()[0], "platform": platform.platform()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["torch_cuda"] = torch.cuda.get_device_name(0)
    except Exception:  # torch absent or broken: the notebooks will say so
        info["torch"] = None
    try:
        import jax

        info["jax"] = jax.__version__
        info["jax_backend"] = jax.default_backend()
    except Exception:
        info["jax"] = None
    info["kind"] = "gpu" if info["torch_cuda"] or info["jax_backend"] in ("gpu", "cuda", "rocm") else "cpu"
    info["colab"] = "COLAB_RELEASE_TAG" in os.environ
    return info


def device_line(dev: dict[str, Any]) -> str:
    """One line for a person: the GPU if there is one, else the CPU and its cores."""
    gpu = dev.get("torch_cuda") or (f"JAX {dev['jax_backend']}" if dev.get("jax_backend") not in (None, "cpu") else None)
    cpu = f"{dev.get('cpu', '?')}, {dev.get('cores', '?')} cores"
    return f"{gpu} (host: {cpu})" if gpu else cpu


# ----------------------------------------------------------------------------------------------- running
def run_notebook(path: Path, *, quick: bool, timeout: int, save_to: Path | None = None) -> dict[str, Any]:
    """Execute ``path`` in a fresh kernel; returns seconds, ok, and the failing cell and error when it fails."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ.update(L2O_QUICK="1" if quick else "0", PYDEVD_DISABLE_FILE_VALIDATION="1")  # inline figures, as in the book
    os.environ.pop("L2O_SAVE_PRETRAINED", None)  # timing runs never overwrite the shipped weights
    result: dict[str, Any] = {"ok": True, "seconds": None, "cell": None, "error": None, "load_before": _load()}
    t0 = time.perf_counter()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        result.update(ok=False, **_failure(nb, exc))
    except Exception as exc:  # kernel failed to start, bad notebook, ...: still a failed run, reported
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}".strip()[:500])
    finally:
        result["seconds"] = round(time.perf_counter() - t0, 2)
        result["slowest_cell"] = slowest_cell(nb)
        result["load_after"] = _load()
        os.environ.clear()
        os.environ.update(env_before)
    if save_to is not None:
        save_to.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save_to / path.name)
    return result


def _load() -> float | None:
    """The 1-minute load average (None where the OS has none): other work on the machine slows a run down."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def slowest_cell(nb: Any) -> dict[str, Any] | None:
    """The code cell that took longest (nbclient's timing metadata): its index and seconds."""
    best = None
    for i, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {}) if cell.cell_type == "code" else {}
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if not (start and end):
            continue
        seconds = (_dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
                   - _dt.datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
        if best is None or seconds > best["seconds"]:
            first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
            best = {"cell": i, "seconds": round(seconds, 2), "source": first[:60]}
    return best


def _failure(nb: Any, exc: Exception) -> dict[str, Any]:
    """The failing cell (index among all cells, and its first line) and the error name and message."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
                return {"cell": i, "cell_source": first[:120], "error": f"{out.get('ename')}: {out.get('evalue')}"[:500]}
    kind = type(exc).__name__
    cell_index = None
    for i, cell in enumerate(nb.cells):  # a timeout or dead kernel leaves no error output: the last cell that started
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            cell_index = i
    msg = str(exc).strip().splitlines()
    return {"cell": cell_index, "error": f"{kind}: {msg[-1] if msg else ''}"[:500]}


# ------------------------------------------------------------------------------------------------- records
def load_records(path: Path = JSON_PATH) -> dict[str, Any]:
    """The run-times JSON, or an empty one."""
    if path.is_file():
        data = json.loads(path.read_text())
        if data.get("schema") != SCHEMA:
            raise ValueError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA!r}")
        return data
    return {"schema": SCHEMA, "runs": {}}


def merge(records: dict[str, Any], mode: str, device: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Put ``results`` under ``MODE/KIND``, notebook by notebook; every other key and notebook stays."""
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    key = f"{mode}/{device['kind']}"
    run = records["runs"].setdefault(key, {"mode": mode, "kind": device["kind"], "notebooks": {}})
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    run.update(device=device, updated=now)
    for name, res in results.items():
        run["notebooks"][name] = dict(res, date=now)
    run["notebooks"] = dict(sorted(run["notebooks"].items()))
    records["runs"] = dict(sorted(records["runs"].items()))
    return records


# ------------------------------------------------------------------------------------------- generated pages
def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.1f} min"


def _cell(run: dict[str, Any] | None, name: str) -> str:
    if not run or name not in run["notebooks"]:
        return "not measured"
    r = run["notebooks"][name]
    return _fmt_seconds(r["seconds"]) + ("" if r["ok"] else " (failed)")


def notebook_info(path: Path) -> dict[str, Any]:
    """Title, prerequisites (first sentence) and exercise labels of a notebook, read from its markdown."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source if nb.cells else ""
    title = next((ln[2:].strip() for ln in first.splitlines() if ln.startswith("# ")), path.stem)
    prereq = ""
    m = re.search(r"\*\*Prerequisites:?\*\*:?\s*(.+?)(?:\n\s*\n|$)", first, re.S)
    if m:
        text = " ".join(m.group(1).split())
        prereq = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;")
    exercises = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for m in re.finditer(r"```\{exercise\}\s*(.*?)\n:label:\s*(\S+)", cell.source):
            exercises.append({"label": m.group(2), "title": m.group(1).strip()})
    solutions = {m.group(1) for c in nb.cells if c.cell_type == "markdown"
                 for m in re.finditer(r"```\{solution\}\s*(\S+)", c.source)}
    for ex in exercises:
        ex["solution"] = ex["label"] in solutions
    return {"name": path.name, "doc": f"/chapters/{path.stem}", "title": title, "prerequisites": prereq,
            "exercises": exercises}


def _link(info: dict[str, Any]) -> str:
    title = info["title"].replace("|", "\\|").replace("`", "").replace("<", "(").replace(">", ")")
    return f"{{doc}}`{title} <{info['doc']}>`"


def _cpu_runs(records: dict[str, Any]) -> tuple[dict | None, dict | None, dict | None]:
    runs = records["runs"]
    return runs.get("quick/cpu"), runs.get("full/cpu"), runs.get("full/gpu") or runs.get("quick/gpu")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def run_times_table(records: dict[str, Any], infos: list[dict[str, Any]]) -> str:
    """The chapter map's table: chapter, prerequisites, measured CPU quick-mode time (and full / GPU when recorded)."""
    quick, full, gpu = _cpu_runs(records)
    extra = [(head, run) for head, run in (("CPU, full mode", full), (f"GPU ({(gpu or {}).get('mode')} mode)", gpu)) if run]
    lines = ["| notebook | prerequisites | CPU, quick mode |" + "".join(f" {h} |" for h, _ in extra),
             "|---|---|---|" + "---|" * len(extra)]
    for info in infos:
        lines.append(f"| {_link(info)} | {_md_escape(info['prerequisites']) or '–'} | {_cell(quick, info['name'])} |"
                     + "".join(f" {_cell(run, info['name'])} |" for _, run in extra))
    missing = [name for name, run in (("CPU full mode", full), ("GPU", gpu)) if not run]
    lines += ["", _where(records) + (f" Not recorded yet: {', '.join(missing)}." if missing else "")]
    return "\n".join(lines) + "\n"


def _where(records: dict[str, Any]) -> str:
    parts = []
    for key, run in records["runs"].items():
        parts.append(f"`{key}`: {device_line(run['device'])}, last updated {run.get('updated', '?')}")
    if not parts:
        return "*No run recorded yet: run `python scripts/run_chapters.py --quick`.*"
    return "*Measured by `python scripts/run_chapters.py` (file `data/run_times.json`) on* " + "; ".join(parts) + "."


def status_table(records: dict[str, Any]) -> str:
    """Every recorded run: mode/device, notebook, pass/fail, seconds, failing cell and error."""
    lines = []
    for key, run in records["runs"].items():
        lines += [f"**{key}** — {device_line(run['device'])}, updated {run.get('updated', '?')}", "",
                  "| notebook | status | wall time | slowest cell | load avg. (start / end) | failing cell | error |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in run["notebooks"].items():
            status = "passed" if r["ok"] else "**failed**"
            err = _md_escape((r.get("error") or "").replace("\n", " "))[:200]
            cell = "" if r.get("cell") is None else str(r["cell"])
            slow = r.get("slowest_cell")
            slow_txt = _slow_text(slow) if slow else "–"
            load = f"{r.get('load_before', '–')} / {r.get('load_after', '–')}"
            lines.append(f"| {name} | {status} | {_fmt_seconds(r['seconds'])} | {slow_txt} | {load} | {cell} | {err} |")
        lines.append("")
    return "\n".join(lines) if lines else "*No run recorded yet.*\n"


#: the 3-hour plan: (chapter prefix, minutes in the session); welcome + workshop check first, a break after 03
PLAN = [("01", 20), ("02", 25), ("03", 25), ("04", 25), ("05", 20), ("06", 20), ("07", 15)]
WELCOME, BREAK_AFTER, BREAK = 10, "03", 10


def shipped_models(data: Path = ROOT / "data") -> dict[str, list[str]]:
    """Shipped model names per chapter stem, read from the model cards in ``data/``."""
    out: dict[str, list[str]] = {}
    for path in sorted(data.glob("*.json")):
        try:
            card = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(card, dict) and "loader" in card:
            out.setdefault(str(card.get("chapter", "")), []).append(card["name"])
    return out


def _slow_text(slow: dict[str, Any] | None) -> str:
    if not slow:
        return "not measured"
    src = slow.get("source", "").replace("`", "'").replace("|", "\\|")
    return f"cell {slow['cell']}" + (f" (`{src}`)" if src else "") + f": {_fmt_seconds(slow['seconds'])}"


def _slot(start: int, minutes: int) -> str:
    end = start + minutes
    return f"{start // 60}:{start % 60:02d}–{end // 60}:{end % 60:02d}"


def workshop_table(records: dict[str, Any], infos: list[dict[str, Any]]) -> str:
    """The session plan's timing table: slot, minutes, chapter, measured quick-mode time, slowest cell, models."""
    quick = records["runs"].get("quick/cpu")
    by_prefix = {i["name"][:2]: i for i in infos}
    models = shipped_models()
    lines = ["| slot | min | chapter | whole notebook (CPU, quick) | slowest cell (CPU, quick) | shipped weights |",
             "|---|---|---|---|---|---|", f"| {_slot(0, WELCOME)} | {WELCOME} | welcome; {{doc}}`workshop check "
             f"</chapters/workshop_check>` on the projector | {_cell(quick, 'workshop_check.ipynb')} "
             f"| {_slow_text((quick or {}).get('notebooks', {}).get('workshop_check.ipynb', {}).get('slowest_cell'))} | – |"]
    start = WELCOME
    for prefix, minutes in PLAN:
        info = by_prefix.get(prefix)
        if info is None:
            lines.append(f"| {_slot(start, minutes)} | {minutes} | chapter {int(prefix)} (not in the book yet) | – | – | – |")
        else:
            rec = (quick or {}).get("notebooks", {}).get(info["name"], {})
            slow = rec.get("slowest_cell")
            slow_txt = _slow_text(slow)
            names = ", ".join(f"`{m}`" for m in models.get(info["name"][:-6], [])) or "–"
            lines.append(f"| {_slot(start, minutes)} | {minutes} | {_link(info)} | {_cell(quick, info['name'])} "
                         f"| {slow_txt} | {names} |")
        start += minutes
        if prefix == BREAK_AFTER:
            lines.append(f"| {_slot(start, BREAK)} | {BREAK} | break | – | – | – |")
            start += BREAK
    if start < 180:
        lines.append(f"| {_slot(start, 180 - start)} | {180 - start} | questions; the {{doc}}`scorecard </chapters/scorecard>` "
                     "page, shown from the built book | – | – | – |")
    over = []
    for info in infos:
        rec = (quick or {}).get("notebooks", {}).get(info["name"])
        if rec and rec.get("slowest_cell") and rec["slowest_cell"]["seconds"] > 60:
            over.append(f"{info['name']} (cell {rec['slowest_cell']['cell']}, {_fmt_seconds(rec['slowest_cell']['seconds'])})")
    verdict = (", ".join(over) if over else "none") if quick else "not measured yet"
    lines += ["", f"Cells that waited more than 60 s in the recorded quick-mode run: {verdict}.", "", _where(records)]
    return "\n".join(lines) + "\n"


def exercises_list(infos: list[dict[str, Any]]) -> str:
    """Every exercise of every notebook, by label, with where its (hidden) solution is."""
    lines = ["| chapter | exercise | label | solution |", "|---|---|---|---|"]
    for info in infos:
        for ex in info["exercises"]:
            sol = f"dropdown below {{ref}}`{ex['label']}`" if ex["solution"] else "**none yet**"
            lines.append(f"| {_link(info)} | {_md_escape(ex['title'])} | `{ex['label']}` | {sol} |")
    n = sum(len(i["exercises"]) for i in infos)
    lines += ["", f"*{n} exercises, scanned from the notebooks' `{{exercise}}` directives by "
              "`scripts/run_chapters.py`.*"]
    return "\n".join(lines) + "\n"


def write_pages(records: dict[str, Any], folder: Path = CHAPTERS, out: Path = GENERATED) -> list[Path]:
    """Regenerate the Markdown the book includes: run times, workshop timing table, exercises, status."""
    infos = [notebook_info(p) for p in notebooks(folder)]
    out.mkdir(parents=True, exist_ok=True)
    pages = {"run_times.md": run_times_table(records, infos), "workshop_times.md": workshop_table(records, infos),
             "exercises.md": exercises_list(infos), "status.md": status_table(records)}
    header = "<!-- generated by scripts/run_chapters.py from data/run_times.json and the notebooks; do not edit -->\n"
    written = []
    for name, text in pages.items():
        (out / name).write_text(header + text)
        written.append(out / name)
    return written


def report(mode: str, device: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The Markdown report of this run (the weekly Colab workflow posts it as an issue when a chapter fails)."""
    failed = [n for n, r in results.items() if not r["ok"]]
    head = "all notebooks ran" if not failed else f"{len(failed)} of {len(results)} notebooks failed: {', '.join(failed)}"
    lines = [f"# Chapter run ({mode} mode): {head}", "", f"Device: {device_line(device)}; torch "
             f"{device.get('torch')}, jax {device.get('jax')} (backend {device.get('jax_backend')}), "
             f"Python {device.get('python')}.", "",
             "| notebook | status | wall time | failing cell | error |", "|---|---|---|---|---|"]
    for name, r in results.items():
        err = _md_escape((r.get("error") or "").replace("\n", " "))
        cell = "" if r.get("cell") is None else f"{r['cell']} `{_md_escape(r.get('cell_source', ''))}`"
        lines.append(f"| {name} | {'passed' if r['ok'] else '**failed**'} | {_fmt_seconds(r['seconds'])} | {cell} | {err} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefixes", nargs="*", help="notebook file-name prefixes, e.g. 02 scorecard")
    ap.add_argument("--quick", action="store_true", help="quick mode (L2O_QUICK=1); default: full mode")
    ap.add_argument("--report", type=Path, help="write a Markdown report of this run to this file")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    ap.add_argument("--json", type=Path, default=JSON_PATH, help=f"run-times JSON (default {JSON_PATH.relative_to(ROOT)})")
    ap.add_argument("--folder", type=Path, default=CHAPTERS, help="where the notebooks are (default chapters/)")
    ap.add_argument("--no-record", action="store_true", help="do not write the JSON or the generated pages")
    ap.add_argument("--pages-only", action="store_true", help="only regenerate chapters/_generated/ from the JSON")
    ap.add_argument("--save-executed", type=Path, default=None, help="folder for the executed notebooks")
    args = ap.parse_args(argv)

    if args.pages_only:
        for p in write_pages(load_records(args.json), args.folder):
            print(f"wrote {p}")
        return 0
    mode = "quick" if args.quick else "full"
    device = describe_device()
    print(f"[run_chapters] {mode} mode on {device_line(device)}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for path in notebooks(args.folder, args.prefixes):
        print(f"[run_chapters] {path.name} ...", flush=True)
        res = run_notebook(path, quick=args.quick, timeout=args.timeout, save_to=args.save_executed)
        results[path.name] = res
        tail = "" if res["ok"] else f" FAILED at cell {res['cell']}: {res['error']}"
        print(f"[run_chapters] {path.name}: {res['seconds']:.1f} s{tail}", flush=True)
    if not args.no_record:
        records = merge(load_records(args.json), mode, device, results)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=2) + "\n")
        if args.folder.resolve() == CHAPTERS.resolve():
            write_pages(records, args.folder)
    text = report(mode, device, results)
    if args.report:
        args.report.write_text(text)
    print(text)
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
