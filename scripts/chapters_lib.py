"""The book's notebooks as the tooling sees them: discovery, execution, run records and what a notebook holds.

Used by ``run_chapters.py`` (timing runs), ``regenerate_data.py`` (re-shipping ``data/``) and ``book_pages.py``
(the generated pages). Nothing here writes a page.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
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
DATA = ROOT / "data"
JSON_PATH = DATA / "run_times.json"
SCHEMA = "l2o-book/run-times/1"
#: what each workshop-live cell showed in the last recorded quick-mode run (the presenter view's expected outputs)
LIVE_PATH = DATA / "live_outputs.json"
LIVE_SCHEMA = "l2o-book/live-outputs/1"
#: notebooks that are not numbered chapters but run with them, in this order after the chapters
EXTRA = ("scorecard.ipynb", "scaling.ipynb", "workshop_check.ipynb")
#: the cell tag of the cells an instructor runs live in a workshop (shown in the HTML book)
LIVE_TAG = "workshop-live"
#: the line that makes an exercise a slot's recommended one: "**Recommended in the workshop** · 10 min · easy"
RECOMMENDED = re.compile(r"^\*\*Recommended in the workshop\*\* · (\d+) min · (easy|medium|hard)\s*$", re.M)


# ----------------------------------------------------------------------------------------------- discovery
def _check_prefixes(prefixes: list[str] | None) -> list[str]:
    prefixes = list(prefixes or [])
    empty = [repr(p) for p in prefixes if not p.strip()]
    if empty:
        raise ValueError(f"empty notebook prefix {', '.join(empty)}: name chapters by the start of their file name, "
                         "e.g. 02, or give none to select every chapter")
    return prefixes


def notebooks(folder: Path = CHAPTERS, prefixes: list[str] | None = None, *, chapters_only: bool = False) -> list[Path]:
    """The numbered chapters (``NN_*.ipynb``) in order, then the extra notebooks that exist; filtered by name prefixes.

    A new chapter is picked up by its file name alone. An empty prefix (it would select everything) and a prefix
    list that matches nothing raise ValueError."""
    prefixes = _check_prefixes(prefixes)
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not chapters_only:
        paths += [folder / n for n in EXTRA if (folder / n).is_file()]
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(x) for x in prefixes)]
        if not paths:
            raise ValueError(f"no {'chapter' if chapters_only else 'notebook'} in {folder} matches {prefixes}")
    return paths


def shipped_models() -> dict[str, list[str]]:
    """Shipped model names per notebook stem, from the model registry (``pretrained.available()`` and each card's
    ``chapter``)."""
    from l2o_lib import pretrained

    out: dict[str, list[str]] = {}
    for name in sorted(pretrained.available()):
        out.setdefault(pretrained.card(name).chapter, []).append(name)
    return out


def notebook_info(path: Path) -> dict[str, Any]:
    """What the pages need from a notebook: title, prerequisites (first sentence), summary (the opening paragraph's
    first sentence), exercises (label, title, number "N.k", the recommended marker's minutes and difficulty), prose
    word count, and the cells tagged ``workshop-live`` (index, id, first code line)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source if nb.cells else ""
    title = next((ln[2:].strip() for ln in first.splitlines() if ln.startswith("# ")), path.stem)
    prereq = ""
    m = re.search(r"\*\*Prerequisites:?\*\*:?\s*(.+?)(?:\n\s*\n|$)", first, re.S)
    if m:
        prereq = first_sentence(" ".join(m.group(1).split()))
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    number = str(int(path.name[:2])) if path.name[:2].isdigit() else ""
    exercises = []
    for src in markdown:
        for m in re.finditer(r"`{3,}\{exercise\}[ \t]*(.*?)\n:label:\s*(\S+)\n(.*?)\n`{3,}", src, re.S):
            k = len(exercises) + 1
            ex = {"label": m.group(2), "title": m.group(1).strip(), "number": f"{number}.{k}" if number else str(k),
                  "recommended": None}
            rec = RECOMMENDED.search(m.group(3))
            if rec:
                ex["recommended"] = {"minutes": int(rec.group(1)), "difficulty": rec.group(2)}
            exercises.append(ex)
    solutions = {m.group(1) for src in markdown for m in re.finditer(r"```\{solution\}\s*(\S+)", src)}
    for ex in exercises:
        ex["solution"] = ex["label"] in solutions
    live = [{"index": i, "id": cell.get("id"), "first_line": _first_code_line(cell.source), "sha": source_hash(cell.source)}
            for i, cell in enumerate(nb.cells) if LIVE_TAG in cell.get("metadata", {}).get("tags", [])]
    return {"name": path.name, "stem": path.stem, "doc": f"/chapters/{path.stem}", "title": title,
            "prerequisites": prereq, "summary": _summary(first), "exercises": exercises,
            "words": prose_words(markdown), "live": live, "ids": [cell.get("id") for cell in nb.cells]}


_ABBREVIATIONS = ("s.t", "e.g", "i.e", "cf", "vs", "et al")


def sentences(text: str) -> list[str]:
    """``text`` cut after each full stop or semicolon that ends a sentence: outside parentheses and math, not after
    an abbreviation (s.t., e.g., ...); the stops are kept."""
    out, start, depth, math = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == "$":
            math = not math
        depth += {"(": 1, ")": -1}.get(ch, 0)
        end = i + 1 == len(text) or text[i + 1].isspace()
        if ch in ".;" and end and depth <= 0 and not math and not text[start:i].endswith(_ABBREVIATIONS):
            out.append(text[start:i + 1].strip())
            start = i + 1
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def first_sentence(text: str) -> str:
    """The text up to its first sentence's full stop or semicolon (without it)."""
    return (sentences(text) or [""])[0].rstrip(".;")


def _summary(first_cell: str) -> str:
    """The first sentence (two when the first is short) of a chapter's opening paragraph, after the title and the
    badge, "Promise." left out."""
    for para in re.split(r"\n\s*\n", first_cell):
        para = " ".join(para.split())
        if not para or para.startswith(("#", "[![", "**You will learn")):
            continue
        para = re.sub(r"^\*\*(The )?[Pp]romise\.?\*\*\.?\s*", "", para)
        out = ""
        for sentence in sentences(para):  # a short opening sentence says too little alone: take the next one too
            out = f"{out} {sentence}".strip()
            if len(out) >= 80:
                break
        return out.rstrip(";") if out.endswith(".") else out.rstrip(";") + "."
    return ""


def prose_words(markdown: list[str]) -> int:
    """Words a reader reads in these markdown cells: fenced code, directive options, HTML tags and URLs left out."""
    words = 0
    for src in markdown:
        text = re.sub(r"```[^\n{]*\n.*?```", " ", src, flags=re.S)  # code blocks (directives' fences are kept below)
        text = re.sub(r"^:\w[\w-]*:.*$", " ", text, flags=re.M)     # directive options (:label:, :class:)
        text = re.sub(r"<[^>]+>|https?://\S+|\]\([^)]*\)", " ", text)
        words += len(re.findall(r"[A-Za-z0-9][\w'’-]*", text))
    return words


def sync_live_tags(plan: dict[str, Any], folder: Path = CHAPTERS) -> list[Path]:
    """Give exactly the cells the plan names (``chapters.NN.live[].cell``) the ``workshop-live`` tag; only cell
    metadata changes, and a notebook is rewritten only when a tag changed. Returns the notebooks rewritten."""
    changed = []
    for path in notebooks(folder, chapters_only=True):
        entry = plan["chapters"].get(path.name[:2])
        wanted = {x["cell"] for x in entry["live"]} if entry else set()
        raw = path.read_text(encoding="utf-8")
        nb = json.loads(raw)
        missing = wanted - {c.get("id") for c in nb["cells"]}
        if missing:
            raise ValueError(f"{path.name}: the workshop plan names cells {sorted(missing)} that the notebook lacks")
        for cell in nb["cells"]:
            meta = cell.setdefault("metadata", {})
            tags = [t for t in meta.get("tags", []) if t != LIVE_TAG]
            tags += [LIVE_TAG] if cell.get("id") in wanted else []
            if tags:
                meta["tags"] = tags
            else:
                meta.pop("tags", None)
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"  # nbformat's own layout: a minimal diff
        if text != raw:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def source_hash(source: str) -> str:
    """A short hash of a cell's source: a recorded output belongs to the source that printed it."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def _first_code_line(source: str) -> str:
    return next((ln.strip() for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")


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
    """``scorecard.environment()`` (versions, threads, CUDA device) plus the CPU model, JAX's backend, the kind
    (``gpu`` when torch or JAX sees one, else ``cpu``) and whether this is Colab."""
    from l2o_lib.scorecard import environment

    info = environment()
    info["cpu"] = _cpu_model()
    try:
        import jax

        info["jax_backend"] = jax.default_backend()
    except Exception:  # jax absent or broken: the notebooks will say so
        info["jax_backend"] = None
    info["kind"] = "gpu" if info.get("cuda") or info["jax_backend"] in ("gpu", "cuda", "rocm") else "cpu"
    info["colab"] = "COLAB_RELEASE_TAG" in os.environ
    return info


def device_line(dev: dict[str, Any]) -> str:
    """One line for a person: the GPU if there is one, else the CPU and its cores (older records: torch_cuda, cores)."""
    cuda = dev.get("cuda") or dev.get("torch_cuda")
    gpu = cuda or (f"JAX {dev['jax_backend']}" if dev.get("jax_backend") not in (None, "cpu") else None)
    cpu = f"{dev.get('cpu', '?')}, {dev.get('cpu_count', dev.get('cores', '?'))} cores"
    return f"{gpu} (host: {cpu})" if gpu else cpu


# ----------------------------------------------------------------------------------------------- running
def execute(path: Path, *, env: dict[str, str | None], timeout: int, save_to: Path | None = None) -> dict[str, Any]:
    """Execute ``path`` in a fresh kernel (in its own folder) with ``env`` added to the environment.

    Returns seconds, ok, the failing cell and error when it fails, the slowest cell, the load average before
    and after, and (when it ran through) the outputs of its ``workshop-live`` cells (``live``, not a run time: the
    caller records it apart). The environment is restored afterwards; the executed notebook goes to ``save_to`` when given."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    for key, value in env.items():  # None removes a variable
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
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
        result["live"] = live_outputs(nb) if result["ok"] else None
        result["load_after"] = _load()
        os.environ.clear()
        os.environ.update(env_before)
    if save_to is not None:
        save_to.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save_to / path.name)
    return result


def timing_env(quick: bool) -> dict[str, str | None]:
    """The environment of a timing run: the mode, inline figures as in the book, and never saving shipped weights."""
    return {"L2O_QUICK": "1" if quick else "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "L2O_SAVE_PRETRAINED": None}


def _load() -> float | None:
    """The 1-minute load average (None where the OS has none): other work on the machine slows a run down."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _seconds(cell: Any) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    return (_dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
            - _dt.datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def slowest_cell(nb: Any) -> dict[str, Any] | None:
    """The code cell that took longest (nbclient's timing metadata): its index, seconds and first code line."""
    best = None
    for i, cell in enumerate(nb.cells):
        seconds = _seconds(cell) if cell.cell_type == "code" else None
        if seconds is not None and (best is None or seconds > best["seconds"]):
            best = {"cell": i, "seconds": round(seconds, 2), "source": _first_code_line(cell.source)[:60]}
    return best


def _failure(nb: Any, exc: Exception) -> dict[str, Any]:
    """The failing cell (index among all cells, and its first line) and the error name and message."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
                return {"cell": i, "cell_source": first[:120], "error": f"{out.get('ename')}: {out.get('evalue')}"[:500]}
    cell_index = None
    for i, cell in enumerate(nb.cells):  # a timeout or dead kernel leaves no error output: the last cell that started
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            cell_index = i
    msg = str(exc).strip().splitlines()
    return {"cell": cell_index, "error": f"{type(exc).__name__}: {msg[-1] if msg else ''}"[:500]}


# ------------------------------------------------------------------------------------------------- records
def empty_records() -> dict[str, Any]:
    return {"schema": SCHEMA, "runs": {}}


def load_records(path: Path = JSON_PATH, *, must_exist: bool = False) -> dict[str, Any]:
    """The run-times JSON; an empty record set when the file is missing, unless ``must_exist``.

    A missing file (with ``must_exist``), invalid JSON or another schema raise an error naming the file."""
    if not path.is_file():
        if must_exist:
            raise FileNotFoundError(f"run-times file {path} does not exist (record a run with "
                                    "`python scripts/run_chapters.py --quick`, or pass the right --json)")
        return empty_records()
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("runs"), dict):
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: schema {found!r}, expected {SCHEMA!r} with a 'runs' object")
    return data


def save_records(records: dict[str, Any], path: Path = JSON_PATH) -> None:
    """Write the records (through a temporary file and a rename, so a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    tmp.replace(path)


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


# ------------------------------------------------------------------------------------- live cells' outputs
_MAX_LINES, _MAX_CHARS = 8, 200


def output_summary(cell: Any) -> dict[str, Any]:
    """What one executed code cell showed: its figures, widgets and HTML tables counted, and its printed text (stdout,
    plain and Markdown results, first lines only); stderr (progress bars, warnings) is left out."""
    figures = widgets = html = 0
    text: list[str] = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stdout":
                text += str(out.get("text", "")).splitlines()
            continue
        if kind not in ("execute_result", "display_data"):
            continue
        data = out.get("data", {})
        if "image/png" in data or "image/svg+xml" in data:
            figures += 1
        elif "application/vnd.jupyter.widget-view+json" in data:
            widgets += 1
        elif "text/markdown" in data:
            text += str(data["text/markdown"]).splitlines()
        elif "text/html" in data:
            html += 1
        elif "text/plain" in data:
            text += str(data["text/plain"]).splitlines()
    lines = [ln.rstrip()[:_MAX_CHARS] for ln in text if ln.strip() and not ln.startswith("|---")]
    more = max(0, len(lines) - _MAX_LINES)
    return {"figures": figures, "widgets": widgets, "html": html, "text": lines[:_MAX_LINES], "more_lines": more}


def live_outputs(nb: Any) -> dict[str, dict[str, Any]]:
    """The output summary of every ``workshop-live`` cell of an executed notebook, by cell id, with its source hash."""
    return {cell.get("id"): dict(output_summary(cell), sha=source_hash(cell.source))
            for cell in nb.cells if cell.cell_type == "code" and LIVE_TAG in cell.get("metadata", {}).get("tags", [])}


def load_live(path: Path = LIVE_PATH) -> dict[str, Any]:
    """The recorded live-cell outputs (an empty record set when the file is missing); another schema raises."""
    if not path.is_file():
        return {"schema": LIVE_SCHEMA, "notebooks": {}}
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("schema") != LIVE_SCHEMA or not isinstance(data.get("notebooks"), dict):
        raise ValueError(f"{path}: expected schema {LIVE_SCHEMA!r} with a 'notebooks' object")
    return data


def merge_live(records: dict[str, Any], name: str, cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Replace one notebook's live-cell outputs (a quick-mode run that passed); the other notebooks stay."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    records["notebooks"][name] = {"recorded": now, "cells": cells}
    records["notebooks"] = dict(sorted(records["notebooks"].items()))
    return records


def save_live(records: dict[str, Any], path: Path = LIVE_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
