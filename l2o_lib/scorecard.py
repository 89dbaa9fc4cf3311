"""The scorecard: every shipped model against its reference solver, on fresh held-out instances, in one table.

    python -m l2o_lib.scorecard                    # every model, 1000 instances each, seed 20261128
    python -m l2o_lib.scorecard --n 200 --only ch1_direct_mlp --json scorecard.json
    python -m l2o_lib.scorecard --executor processes   # reference solves in a local process pool

For each model in the pretrained registry: sample ``n`` instances of its problem with ``seed`` (fresh: no model
was trained on this seed), solve them with the family's reference solver (cached on disk by
(problem, seed, count), safe to delete), run the model batched (after warm-up, devices synchronized) and
score it: gap % (mean / max), equality and inequality violation (mean / max), time per instance of the model
and of the reference, and their ratio. The reference's time is always measured in this run, on
``--time-ref`` instances, also when its solutions come from the cache. Prints a Markdown table and writes JSON
with the environment (versions, CPU/GPU, threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l2o_lib import datasets, metrics, pretrained
from l2o_lib.problems.executors import EXECUTORS, POOL_THRESHOLD

DEFAULT_N = 1000
DEFAULT_SEED = 20261128
CACHE_ENV = "L2O_CACHE_DIR"

#: Published figures the chapters cite, keyed by problem family (sources in each chapter's references).
ANCHORS: dict[str, list[dict[str, Any]]] = {
    "nonconvex_2d": [
        {"source": "NeuroMANCER 2-D pQP example (DC3 tutorial notebook)", "gap_mean": 1.14, "ineq_mean": 0.021},
    ],
    "dc3_qp": [
        {"source": "DC3 paper, DC3 (−13.46 vs optimum −15.05)", "gap_mean": 10.6},
        {"source": "DC3 paper, penalty network", "gap_mean": 16.0, "eq_mean": 0.13},
    ],
    "l1qp_box": [
        {"source": "LEAF code, its QP example (a different QP; chapter 6 cites it)", "gap_mean": 0.0034,
         "ineq_max": 7.5e-4, "speedup": 0.7},
    ],
    "acopf_case57": [
        {"source": "DC3 paper, DC3 on its 57-bus ACOPF (3.82 vs PYPOWER 3.81; violations 0.00 to two decimals)",
         "gap_mean": 0.26, "eq_mean": 0.0, "eq_max": 0.0, "ineq_mean": 0.0, "ineq_max": 0.0},
        {"source": "DC3 paper, Eq. NN (supervised, completion)", "gap_mean": 0.0, "eq_mean": 0.0, "ineq_mean": 0.0,
         "ineq_max": 0.15},
    ],
    "entropy": [
        {"source": "tutorial HUANet notebook", "gap_mean": 6.1e-4, "gap_max": 7.1e-3, "ineq_mean": 1.7e-5,
         "ineq_max": 5.7e-4, "speedup": 3.9},
    ],
}


def cache_dir() -> Path:
    """Where reference solves are cached (``$L2O_CACHE_DIR`` or ``~/.cache/l2o-book/references``)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "l2o-book" / "references")


@dataclass
class Entry:
    """One model's scorecard line and where it came from."""

    model: str
    chapter: str
    problem: str
    row: metrics.Row
    reference_time: float
    reference_solver: str
    reference_cached: bool
    headline: dict[str, Any] = field(default_factory=dict)
    targets: pretrained.TargetCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self.row.to_dict()
        d.update(model=self.model, chapter=self.chapter, problem=self.problem, reference_time=self.reference_time,
                 reference_solver=self.reference_solver, reference_cached=self.reference_cached,
                 recorded_headline=self.headline)
        if self.targets is not None:
            d.update(targets_met=[str(t) for t in self.targets.met], targets_missed=[str(t) for t in self.targets.missed],
                     targets_not_decided=[t.field for t in self.targets.unchecked])
        return d


def environment() -> dict[str, Any]:
    """Versions, processor, accelerator and thread count of this run."""
    env: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                           "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    for mod in ("numpy", "torch", "jax", "cvxpy", "clarabel", "casadi", "neuromancer"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:  # not installed, or (neuromancer) not importable without the shim
            env[mod] = None
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        env["torch_threads"] = torch.get_num_threads()
        env["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return env


def _check_executor(executor: Any) -> None:
    if not (executor is None or executor in EXECUTORS or isinstance(executor, Executor)):
        raise ValueError(f"executor must be one of {EXECUTORS}, None (a process pool from "
                         f"{POOL_THRESHOLD} instances on) or a concurrent.futures.Executor, got {executor!r}")


def score(name: str, n: int = DEFAULT_N, seed: int = DEFAULT_SEED, *, time_ref: int = 50, repeat: int = 3,
          folder: Path | None = None, progress: bool = True, executor: Any = None) -> Entry:
    """Score one registered model on ``n`` fresh instances (reference solves cached in ``folder``).

    ``executor`` runs the reference solves (``family.solve(..., executor=...)``); the re-timed ones stay serial.
    """
    if isinstance(time_ref, bool) or not isinstance(time_ref, int) or time_ref < 1:
        raise ValueError(f"time_ref must be a positive integer, got {time_ref!r}")
    _check_executor(executor)
    model = pretrained.load(name)
    fam = model.problem
    data = datasets.labeled(fam, n, seed, folder=folder or cache_dir(), progress=progress, executor=executor)
    xi, ref = data.xi, data.solution
    k = min(time_ref, n)
    fam.solve(xi[:1], progress=False, executor="serial")  # warm-up, not timed: a process's first solve pays extra
    t0 = time.perf_counter()
    timed = fam.solve(xi[:k], progress=False, executor="serial")
    wall = (time.perf_counter() - t0) / k
    ref_time = float(np.mean(timed.solve_time[timed.ok])) if timed.ok.any() else wall
    seconds = metrics.timeit(model.predict, xi, warmup=1, repeat=repeat)
    x = model.predict(xi)
    row = metrics.evaluate(fam, x, xi, ref, method=name, time_per_instance=seconds / n, reference_time=ref_time)
    return Entry(name, model.card.chapter, fam.name, row, ref_time, ref.solver, data.loaded, model.card.headline,
                 pretrained.check(row, model.card))


def run(names: Sequence[str] | None = None, n: int = DEFAULT_N, seed: int = DEFAULT_SEED, **kwargs: Any) -> list[Entry]:
    """Score the named models (default: every registered one)."""
    known = pretrained.available()
    names = list(names) if names else known
    unknown = [x for x in names if x not in known]
    if unknown:
        raise KeyError(f"unknown model(s) {unknown}; registered: {known}")
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    _check_executor(kwargs.get("executor"))
    from tqdm.auto import tqdm

    return [score(x, n, seed, **kwargs) for x in tqdm(names, desc="scorecard", disable=not kwargs.get("progress", True))]


def table(entries: Sequence[Entry]) -> metrics.ResultsTable:
    """The entries as the book's results table (speed-up against each model's own reference)."""
    return metrics.ResultsTable([e.row for e in entries], title="Scorecard: shipped models on fresh held-out instances")


def markdown(entries: Sequence[Entry]) -> str:
    """Markdown: the results table plus the problem and reference of each row."""
    lines = [table(entries).to_markdown(), "",
             "| model | chapter | problem | reference (time / instance) | cached | card's targets |",
             "|---|---|---|---|---|---|"]
    for e in entries:
        t = e.targets
        verdict = "–" if t is None else (f"{len(t.met)} met" + (f", missed: {'; '.join(map(str, t.missed))}" if t.missed else ""))
        lines.append(f"| {e.model} | {e.chapter} | {e.problem} | {e.reference_solver} ({e.reference_time * 1e3:.3g} ms) "
                     f"| {'yes' if e.reference_cached else 'no'} | {verdict} |")
    return "\n".join(lines)


def to_json(entries: Sequence[Entry], n: int, seed: int) -> dict[str, Any]:
    """The machine-readable scorecard (schema checked by the tests)."""
    return {"schema": "l2o-book/scorecard/1", "n": n, "seed": seed, "environment": environment(),
            "models": [e.to_dict() for e in entries], "anchors": ANCHORS}


def plot(entries: Sequence[Entry], ax: Any = None):
    """Speed ratio versus mean optimality gap, one point per model (log-log)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for e in entries:
        if e.row.speedup and np.isfinite(e.row.gap_mean):
            ax.scatter(max(e.row.gap_mean, 1e-8), e.row.speedup, s=40)
            ax.annotate(e.model, (max(e.row.gap_mean, 1e-8), e.row.speedup), fontsize=7, xytext=(4, 2),
                        textcoords="offset points")
    ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
    ax.set(xscale="log", yscale="log", xlabel="mean optimality gap % (lower is better)",
           ylabel="speed-up vs reference (higher is better)", title="every shipped model")
    return ax


def closed_loop_scorecard(names: Sequence[str] | None = None, *, n: int = 100, seed: int = 20261128, steps: int = 40,
                          target_radius: float = 0.1) -> list[Any]:
    """Closed-loop rows for the shipped models whose family is a linear MPC problem (one table per family).

    Each model's ``predict`` gives a plan; its first input is simulated in closed loop, alone and behind the
    safety filter of the family's control invariant set, from ``n`` initial states drawn from that set with
    ``seed``, against exact MPC by warm-started OSQP (the cost and timing reference). Two states and one input
    (the safety filter's planar invariant set).
    """
    from l2o_lib import control
    from l2o_lib.problems import LinearMPCForm

    groups: dict[tuple[str, str], list[Any]] = {}
    for name in names if names is not None else pretrained.available():
        model = pretrained.load(name)
        fam = model.problem
        if isinstance(fam, LinearMPCForm) and fam.nx == 2 and fam.nu == 1:
            groups.setdefault(fam.identity, []).append(model)
        elif names is not None:
            raise ValueError(f"closed_loop_scorecard: {name}'s family {fam.name} is not a linear MPC problem "
                             "with two states and one input")
    tables = []
    for models in groups.values():
        fam = models[0].problem
        safe, _ = control.control_invariant_set(fam.A, fam.B, fam.x_min, fam.x_max, fam.u_min, fam.u_max)
        x0 = safe.sample(n, seed=seed)
        ref = control.simulate(control.OSQPController(fam), x0, steps, fam)
        runs = [ref]
        for m in models:
            def first(x: np.ndarray, m: Any = m, fam: Any = fam) -> np.ndarray:
                return fam.first_input(m.predict(x, check_domain=False))
            runs.append(control.simulate(control.PolicyController(m.name, first), x0, steps, fam))
            runs.append(control.simulate(control.SafetyFilter(f"{m.name} + safety filter", first, safe, fam), x0,
                                         steps, fam))
        tables.append(control.closed_loop_table(runs, fam, reference=ref.name, timing_reference=ref.name,
                                                target_radius=target_radius,
                                                title=f"closed loop on {fam.name}: {n} initial states x {steps} steps"))
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m l2o_lib.scorecard", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=DEFAULT_N, help=f"held-out instances per model (default {DEFAULT_N})")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"sampling seed (default {DEFAULT_SEED})")
    ap.add_argument("--only", action="append", metavar="NAME", help="score only this model (repeatable)")
    ap.add_argument("--json", type=Path, default=Path("scorecard.json"), help="JSON output (default scorecard.json)")
    ap.add_argument("--time-ref", type=int, default=50, help="instances on which the reference is re-timed")
    ap.add_argument("--cache-dir", type=Path, default=None, help=f"reference cache (default ${CACHE_ENV} or ~/.cache)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: the models are small, and on a shared 2-core machine two "
                         "threads contend and slow them by orders of magnitude; recorded in the JSON)")
    ap.add_argument("--executor", choices=EXECUTORS, default=None,
                    help=f"where the reference solves run: 'serial', or 'processes' (a local process pool); default: "
                         f"a process pool from {POOL_THRESHOLD} instances on. The labels are the same either way")
    ap.add_argument("--list", action="store_true", help="list the registered models and exit")
    ap.add_argument("--closed-loop", action="store_true",
                    help="also simulate the shipped controllers (MPC families) in closed loop (l2o_lib.control)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error(f"--threads must be at least 1, got {args.threads}")
    if args.n < 1:
        ap.error(f"--n must be at least 1, got {args.n}")
    if args.time_ref < 1:
        ap.error(f"--time-ref must be at least 1 (instances on which the reference is re-timed), got {args.time_ref}")
    # checked before any scoring, so that a typo does not cost a whole run
    out_dir = args.json.resolve().parent
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        ap.error(f"--json {args.json}: folder {out_dir} does not exist or is not writable")
    if args.cache_dir is not None:
        try:
            args.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            ap.error(f"--cache-dir {args.cache_dir}: cannot create it ({exc.strerror or exc})")
        if not os.access(args.cache_dir, os.W_OK):
            ap.error(f"--cache-dir {args.cache_dir} is not writable")
    if args.list:
        for name in pretrained.available():
            c = pretrained.card(name)
            print(f"{name}: {c.family} ({c.chapter}) — {c.description}")
        return 0
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    start = time.perf_counter()
    try:
        entries = run(args.only, args.n, args.seed, time_ref=args.time_ref, folder=args.cache_dir,
                      executor=args.executor)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    print(markdown(entries))
    doc = to_json(entries, args.n, args.seed)
    if args.closed_loop:
        loops = closed_loop_scorecard(args.only, n=min(args.n, 200), seed=args.seed)
        for t in loops:
            print("\n" + t.to_markdown())
        doc["closed_loop"] = [{"title": t.title, "rows": [r.to_dict() for r in t.rows]} for t in loops]
    elapsed = time.perf_counter() - start
    doc["seconds"] = round(elapsed, 1)
    args.json.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    cached = sum(e.reference_cached for e in entries)
    print(f"\n{len(entries)} models scored in {elapsed:.0f} s ({cached} on reference solves loaded from the cache)")
    print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
