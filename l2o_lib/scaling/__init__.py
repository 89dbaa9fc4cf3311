"""How the cost grows: the scaling study's analysis (numpy only; the sweeps live in ``scaling.sweep``).

``python -m l2o_lib.scaling`` runs the sweeps and writes ``data/scaling.json`` and the plots; the book's
scaling page reads that JSON with :func:`load` and computes everything it states from it: the exponents of
time ∝ n^α (:func:`fit_exponent`, :func:`exponents`), the sizes where a learned method's curve crosses a
solver's (:func:`crossovers`) and the batch where each batched method reaches 90 % of its best throughput
(:func:`saturation`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "l2o-book/scaling/1"
#: the largest size a crossing is extrapolated to from the power-law fits (further out means nothing)
EXTRAPOLATE_MAX = 1e6
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data" / "scaling.json"
DATA_ENV = "L2O_DATA_DIR"  # as in l2o_lib.pretrained: where the shipped data lives (Colab sets it)
KEYS = {"schema", "mode", "config", "environment", "seconds", "size", "size_skipped", "batch", "batch_skipped",
        "accuracy"}
SIZE_KEYS = {"family", "method", "kind", "n", "time_per_instance", "peak_mb", "batch"}
BATCH_KEYS = {"family", "method", "kind", "n", "batch", "time_per_instance", "peak_mb"}
ACCURACY_KEYS = {"family", "method", "n", "train_seconds", "gap_mean", "gap_max", "ineq_max", "eq_max",
                 "time_per_instance", "ref_time_per_instance"}


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """Return ``doc`` if it is a scaling document (schema, keys, positive times); raise ValueError naming what is not."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"scaling: not a {SCHEMA} document (schema {doc.get('schema') if isinstance(doc, dict) else doc!r})")
    missing = KEYS - set(doc)
    if missing:
        raise ValueError(f"scaling: document lacks {sorted(missing)}")
    for section, keys in (("size", SIZE_KEYS), ("batch", BATCH_KEYS), ("accuracy", ACCURACY_KEYS)):
        for i, row in enumerate(doc[section]):
            lack = keys - set(row)
            if lack:
                raise ValueError(f"scaling: {section}[{i}] lacks {sorted(lack)}")
            t = row["time_per_instance"]
            if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
                raise ValueError(f"scaling: {section}[{i}] ({row['method']}, n={row['n']}) has time {t!r}")
    return doc


def load(path: str | Path | None = None) -> dict[str, Any]:
    """The recorded sweep (``scaling.json`` in ``$L2O_DATA_DIR`` or the repository's ``data/``), validated."""
    return load_recorded(DEFAULT_PATH, path, validate, "l2o_lib.scaling")


def load_recorded(default: Path, path: str | Path | None, check: Any, command: str) -> dict[str, Any]:
    """A recorded sweep's JSON, validated by ``check``: ``path``, else the file named like ``default`` in
    ``$L2O_DATA_DIR``, else ``default``. A missing file names the command (``python -m command``) that writes it."""
    if path is None:
        env = os.environ.get(DATA_ENV)
        path = Path(env) / default.name if env else default
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{command.rsplit('.', 1)[-1]}: no recorded sweep at {path}; run `python -m {command}`")
    return check(json.loads(path.read_text()))


# ---------------------------------------------------------------------------- exponents
def fit_exponent(n: Sequence[float], t: Sequence[float]) -> dict[str, float]:
    """Least squares on log t = log c + α log n: α, its standard error, c, and the number of points.

    The standard error is the usual one of a regression slope, sqrt(SSR / (k − 2) / Σ(log n − mean)²); it is
    NaN with two points (no residual to estimate the noise from). Raises ValueError with fewer than two
    distinct sizes or a non-positive value.
    """
    x, y = np.asarray(n, dtype=float), np.asarray(t, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"fit_exponent: n and t must be 1-D of one length, got {x.shape} and {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0) or not np.all(np.isfinite(x) & np.isfinite(y)):
        raise ValueError("fit_exponent: sizes and times must be positive and finite")
    if len(np.unique(x)) < 2:
        raise ValueError(f"fit_exponent: need at least two distinct sizes, got {np.unique(x).tolist()}")
    lx, ly = np.log(x), np.log(y)
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    alpha = float(np.sum((lx - lx.mean()) * (ly - ly.mean())) / sxx)
    log_c = float(ly.mean() - alpha * lx.mean())
    k = len(x)
    ssr = float(np.sum((ly - log_c - alpha * lx) ** 2))
    se = math.sqrt(ssr / (k - 2) / sxx) if k > 2 else float("nan")
    return {"alpha": alpha, "se": se, "c": math.exp(log_c), "points": k, "n_min": float(x.min()), "n_max": float(x.max())}


def _series(rows: list[dict[str, Any]], family: str, method: str, key: str = "time_per_instance"
            ) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted((r["n"], r[key]) for r in rows if r["family"] == family and r["method"] == method
                 and r.get(key) is not None and r[key] > 0)
    return np.array([p[0] for p in pts], dtype=float), np.array([p[1] for p in pts], dtype=float)


def methods_of(doc: dict[str, Any], family: str, section: str = "size") -> list[tuple[str, str]]:
    """(method, kind) pairs measured on ``family``, in the order they were run."""
    seen: dict[str, str] = {}
    for r in doc[section]:
        if r["family"] == family:
            seen.setdefault(r["method"], r["kind"])
    return list(seen.items())


def families(doc: dict[str, Any]) -> list[str]:
    """Families in the size sweep, in the order they were run."""
    return list(dict.fromkeys(r["family"] for r in doc["size"]))


def exponents(doc: dict[str, Any], *, tail: int | None = None) -> list[dict[str, Any]]:
    """α of time per instance ∝ n^α for every (family, method) with ≥ 2 sizes; ``tail`` fits the largest sizes only.

    Solvers get two fits, on wall time (``time = "wall"``, modeling layer included) and on the solver's own
    reported time (``"solver"``).
    """
    out = []
    for fam in families(doc):
        for method, kind in methods_of(doc, fam):
            keys = [("wall", "time_per_instance")] + ([("solver", "solver_time_per_instance")] if kind == "solver" else [])
            for label, key in keys:
                n, t = _series(doc["size"], fam, method, key)
                if tail is not None:
                    n, t = n[-tail:], t[-tail:]
                if len(np.unique(n)) < 2:
                    continue
                out.append({"family": fam, "method": method, "kind": kind, "time": label, **fit_exponent(n, t)})
    return out


# ---------------------------------------------------------------------------- crossovers
def crossover(n: Sequence[float], t_a: Sequence[float], t_b: Sequence[float]) -> list[float]:
    """Sizes where curve a crosses curve b, interpolating log t linearly in log n between measured sizes.

    ``n`` is increasing; ``t_a`` and ``t_b`` are measured at the same sizes. A tie at a measured size (equal to
    a relative 1e-9) counts as a crossing there.
    """
    x = np.log(np.asarray(n, dtype=float))
    if np.any(np.diff(x) <= 0):
        raise ValueError("crossover: sizes must be strictly increasing")
    r = np.log(np.asarray(t_a, dtype=float)) - np.log(np.asarray(t_b, dtype=float))
    if r.shape != x.shape:
        raise ValueError(f"crossover: {len(x)} sizes but {r.shape} ratios")
    r = np.where(np.abs(r) < 1e-9, 0.0, r)  # equal up to rounding: a tie
    out = []
    for i in range(len(r) - 1):
        if r[i] == 0:
            out.append(float(math.exp(x[i])))
        elif r[i] * r[i + 1] < 0:
            s = r[i] / (r[i] - r[i + 1])
            out.append(float(math.exp(x[i] + s * (x[i + 1] - x[i]))))
    if len(r) and r[-1] == 0:
        out.append(float(math.exp(x[-1])))
    return out


def crossovers(doc: dict[str, Any], *, time: str = "wall") -> list[dict[str, Any]]:
    """For each family, each learned or batched classical method against each solver: the measured crossings.

    ``time``: the solver's ``"wall"`` time (what a user waits for) or its own ``"solver"`` time. Each entry
    has the sizes in common, the ratio learned/solver at the smallest and largest, the crossings, and, when
    nothing crosses in the measured range, the power-law fits' crossing (``extrapolated``; None when the fitted
    curves do not meet between the largest measured size and ``EXTRAPOLATE_MAX``).
    """
    key = "time_per_instance" if time == "wall" else "solver_time_per_instance"
    out = []
    for fam in families(doc):
        ms = methods_of(doc, fam)
        for method, kind in ms:
            if kind == "solver":
                continue
            for solver, skind in ms:
                if skind != "solver":
                    continue
                na, ta = _series(doc["size"], fam, method)
                nb, tb = _series(doc["size"], fam, solver, key)
                common = np.intersect1d(na, nb)
                if len(common) < 2:
                    continue
                a = ta[np.isin(na, common)]
                b = tb[np.isin(nb, common)]
                cross = crossover(common, a, b)
                entry = {"family": fam, "method": method, "kind": kind, "solver": solver, "time": time,
                         "n": common.tolist(), "ratio_first": float(a[0] / b[0]), "ratio_last": float(a[-1] / b[-1]),
                         "crossings": cross, "extrapolated": None}
                if not cross:
                    fa, fb = fit_exponent(common, a), fit_exponent(common, b)
                    if fa["alpha"] != fb["alpha"]:
                        log_n = (math.log(fb["c"]) - math.log(fa["c"])) / (fa["alpha"] - fb["alpha"])
                        if math.log(common[-1]) < log_n <= math.log(EXTRAPOLATE_MAX):
                            entry["extrapolated"] = math.exp(log_n)
                out.append(entry)
    return out


# ---------------------------------------------------------------------------- batch
def saturation(doc: dict[str, Any], level: float = 0.9) -> list[dict[str, Any]]:
    """Per (family, method) of the batch sweep: best throughput, and the smallest batch reaching ``level`` of it.

    ``at_largest`` says whether the best throughput was at the largest batch measured (then the curve may
    not have levelled off yet).
    """
    if not 0 < level <= 1:
        raise ValueError(f"saturation: level must be in (0, 1], got {level}")
    out = []
    for fam in dict.fromkeys(r["family"] for r in doc["batch"]):
        for method, kind in methods_of(doc, fam, "batch"):
            rows = sorted((r for r in doc["batch"] if r["family"] == fam and r["method"] == method), key=lambda r: r["batch"])
            thr = np.array([1.0 / r["time_per_instance"] for r in rows])
            best = int(np.argmax(thr))
            reach = next(r["batch"] for r, v in zip(rows, thr) if v >= level * thr[best])
            out.append({"family": fam, "method": method, "kind": kind, "n": rows[0]["n"],
                        "best_throughput": float(thr[best]), "best_batch": rows[best]["batch"], "batch_90": reach,
                        "largest_batch": rows[-1]["batch"], "at_largest": best == len(rows) - 1,
                        "time_batch_1": float(rows[0]["time_per_instance"]) if rows[0]["batch"] == 1 else None,
                        "speedup_vs_batch_1": float(thr[best] * rows[0]["time_per_instance"]) if rows[0]["batch"] == 1
                        else None})
    return out


def batch_one(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each batched method run one instance at a time against the fastest solver (wall time) at the same size.

    ``ratio`` < 1: the method, unbatched, is still faster per instance than every solver measured there.
    """
    out = []
    for r in doc["batch"]:
        if r["batch"] != 1:
            continue
        solvers = [s for s in doc["size"] if s["family"] == r["family"] and s["n"] == r["n"] and s["kind"] == "solver"]
        if not solvers:
            continue
        best = min(solvers, key=lambda s: s["time_per_instance"])
        out.append({"family": r["family"], "method": r["method"], "kind": r["kind"], "n": r["n"],
                    "time": r["time_per_instance"], "solver": best["method"], "solver_time": best["time_per_instance"],
                    "ratio": r["time_per_instance"] / best["time_per_instance"]})
    return out


def break_even(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Accuracy sweep: instances after which training pays, train_seconds / (reference time − inference time)."""
    out = []
    for r in doc["accuracy"]:
        saved = r["ref_time_per_instance"] - r["time_per_instance"]
        out.append({**r, "break_even_instances": r["train_seconds"] / saved if saved > 0 else None})
    return out


# ---------------------------------------------------------------------------- plots
STYLE = {"solver": dict(ls="--", marker="s"), "learned": dict(ls="-", marker="o"), "classical": dict(ls=":", marker="^")}


def plot_sizes(doc: dict[str, Any], family: str, ax: Any = None, *, solver_time: bool = False) -> Any:
    """Time per instance against n on log-log axes: solvers dashed, learned solid, batched classical dotted."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3.6))[1]
    for method, kind in methods_of(doc, family):
        n, t = _series(doc["size"], family, method)
        ax.plot(n, t, label=method, **STYLE[kind])
        if solver_time and kind == "solver":
            n2, t2 = _series(doc["size"], family, method, "solver_time_per_instance")
            ax.plot(n2, t2, ls="-.", lw=0.8, color=ax.lines[-1].get_color(), alpha=0.6)
    ax.set(xscale="log", yscale="log", xlabel="variables n", ylabel="seconds per instance", title=family)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    return ax


def plot_batches(doc: dict[str, Any], family: str, ax: Any = None) -> Any:
    """Time per instance against batch size (log-log), one line per batched method."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3.6))[1]
    for method, kind in methods_of(doc, family, "batch"):
        rows = sorted((r for r in doc["batch"] if r["family"] == family and r["method"] == method), key=lambda r: r["batch"])
        ax.plot([r["batch"] for r in rows], [r["time_per_instance"] for r in rows], label=method, **STYLE[kind])
    n = next((r["n"] for r in doc["batch"] if r["family"] == family), None)
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="seconds per instance", title=f"{family}, n = {n}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    return ax


def plot_accuracy(doc: dict[str, Any], axes: Any = None) -> Any:
    """Accuracy sweep: mean and max gap, max inequality violation, and training seconds against n."""
    import matplotlib.pyplot as plt

    if axes is None:
        axes = plt.subplots(1, 2, figsize=(9, 3.4))[1]
    rows = sorted(doc["accuracy"], key=lambda r: r["n"])
    n = [r["n"] for r in rows]
    axes[0].plot(n, [r["gap_mean"] for r in rows], "o-", label="gap % (mean)")
    axes[0].plot(n, [r["gap_max"] for r in rows], "o--", label="gap % (max)")
    # a violation of exactly 0 has no place on a log axis: those sizes are left out of that line, and said so
    pos = [(r["n"], r["ineq_max"]) for r in rows if r["ineq_max"] > 0]
    axes[0].plot([p[0] for p in pos], [p[1] for p in pos], "^:", label="max ineq. violation (0 not drawn)")
    axes[0].set(xscale="log", yscale="log", xlabel="variables n", title="DC3, fixed training budget")
    axes[1].plot(n, [r["train_seconds"] for r in rows], "o-")
    axes[1].set(xscale="log", yscale="log", xlabel="variables n", ylabel="seconds", title="training time")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    return axes


def save_plots(doc: dict[str, Any], folder: str | Path) -> list[Path]:
    """Write the size, batch and accuracy figures as PNG files into ``folder``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fams = families(doc)
    fig, axes = plt.subplots(1, len(fams), figsize=(4.5 * len(fams), 3.8), squeeze=False)
    for fam, ax in zip(fams, axes[0]):
        plot_sizes(doc, fam, ax, solver_time=True)
    fig.tight_layout()
    paths.append(folder / "scaling_size.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    bfams = list(dict.fromkeys(r["family"] for r in doc["batch"]))
    if bfams:
        fig, axes = plt.subplots(1, len(bfams), figsize=(4.5 * len(bfams), 3.8), squeeze=False)
        for fam, ax in zip(bfams, axes[0]):
            plot_batches(doc, fam, ax)
        fig.tight_layout()
        paths.append(folder / "scaling_batch.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    if doc["accuracy"]:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        plot_accuracy(doc, axes)
        fig.tight_layout()
        paths.append(folder / "scaling_accuracy.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


# ---------------------------------------------------------------------------- tables
def _fmt_n(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"


def exponent_table(doc: dict[str, Any], *, tail: int | None = None) -> str:
    """Markdown: α ± standard error per (family, method), wall time and, for solvers, solver time."""
    lines = ["| family | method | kind | time | α | ± s.e. | sizes |", "|---|---|---|---|---|---|---|"]
    for e in exponents(doc, tail=tail):
        se = "—" if math.isnan(e["se"]) else f"{e['se']:.2f}"
        lines.append(f"| {e['family']} | {e['method']} | {e['kind']} | {e['time']} | {e['alpha']:.2f} | {se} | "
                     f"{e['n_min']:.0f}–{e['n_max']:.0f} ({e['points']}) |")
    return "\n".join(lines)


def crossover_table(doc: dict[str, Any], *, time: str = "wall") -> str:
    """Markdown: each learned/classical method against each solver, ratio at both ends and where they cross."""
    lines = ["| family | method | vs solver | ratio at smallest n | ratio at largest n | crossing n |",
             "|---|---|---|---|---|---|"]
    for c in crossovers(doc, time=time):
        where = ", ".join(f"{v:.3g}" for v in c["crossings"]) or (
            f"none measured (fits cross at ≈ {c['extrapolated']:.3g})" if c["extrapolated"] else "none")
        lines.append(f"| {c['family']} | {c['method']} | {c['solver']} | {c['ratio_first']:.3g} | "
                     f"{c['ratio_last']:.3g} | {where} |")
    return "\n".join(lines)


def skipped_table(doc: dict[str, Any], section: str = "size") -> str:
    """Markdown: every cell the ``"size"`` (or ``"batch"``) sweep skipped, with the reason."""
    if section not in ("size", "batch"):
        raise ValueError(f"skipped_table: section must be 'size' or 'batch', got {section!r}")
    rows = doc[f"{section}_skipped"]
    if not rows:
        return f"_nothing skipped in the {section} sweep_"
    col = "n" if section == "size" else "batch"
    lines = [f"| family | method | {col} | why |", "|---|---|---|---|"]
    lines += [f"| {s['family']} | {s['method']} | {s[col]} | {s['reason']} |" for s in rows]
    return "\n".join(lines)


def overhead(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per solver row of the size sweep: wall time / solver's own time (the modeling layer's share)."""
    return [{**r, "wall_over_solver": r["time_per_instance"] / r["solver_time_per_instance"]}
            for r in doc["size"] if r["kind"] == "solver"]


def overhead_table(doc: dict[str, Any]) -> str:
    """Markdown: each solver at the smallest and the largest size it reached, solver time against wall time."""
    rows = overhead(doc)
    ends: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        ends.setdefault((r["family"], r["method"]), []).append(r)
    lines = ["| family | solver | n | solver's time | wall time | wall / solver | first call (compile) |",
             "|---|---|---|---|---|---|---|"]
    for group in ends.values():
        group = sorted(group, key=lambda r: r["n"])
        for r in (group[0], group[-1]) if len(group) > 1 else group:
            lines.append(f"| {r['family']} | {r['method']} | {r['n']} | {r['solver_time_per_instance'] * 1e3:.3g} ms | "
                         f"{r['time_per_instance'] * 1e3:.3g} ms | {r['wall_over_solver']:.3g} | "
                         f"{r['first_call_seconds']:.2f} s |")
    return "\n".join(lines)


def saturation_table(doc: dict[str, Any]) -> str:
    """Markdown: per batched method, time at batch 1, best time per instance, batch at 90 % of the best throughput."""
    lines = ["| family | method | n | time at batch 1 | best (batch) | 90 % of best at batch | gain over batch 1 |",
             "|---|---|---|---|---|---|---|"]
    for s in saturation(doc):
        t1 = "—" if s["time_batch_1"] is None else f"{s['time_batch_1'] * 1e6:.3g} µs"
        gain = "—" if s["speedup_vs_batch_1"] is None else f"{s['speedup_vs_batch_1']:.3g}×"
        lines.append(f"| {s['family']} | {s['method']} | {s['n']} | {t1} | {1e6 / s['best_throughput']:.3g} µs "
                     f"({s['best_batch']}) | {s['batch_90']}{' (still rising)' if s['at_largest'] else ''} | {gain} |")
    return "\n".join(lines)


def memory_table(doc: dict[str, Any]) -> str:
    """Markdown: peak memory per (family, method) at its largest size and, for batched methods, its largest batch."""
    largest_batch = {}
    for r in doc["batch"]:
        key = (r["family"], r["method"])
        if key not in largest_batch or r["batch"] > largest_batch[key]["batch"]:
            largest_batch[key] = r
    lines = ["| family | method | largest n (batch) | peak MB there | largest batch (n) | peak MB there |",
             "|---|---|---|---|---|---|"]
    for fam in families(doc):
        for method, _ in methods_of(doc, fam):
            r = max((r for r in doc["size"] if r["family"] == fam and r["method"] == method), key=lambda r: r["n"])
            b = largest_batch.get((fam, method))
            tail = f"{b['batch']} ({b['n']}) | {b['peak_mb']:.3g} |" if b else "— | — |"
            lines.append(f"| {fam} | {method} | {r['n']} ({r['batch']}) | {r['peak_mb']:.3g} | {tail}")
    return "\n".join(lines)


def accuracy_table(doc: dict[str, Any]) -> str:
    """Markdown: the accuracy sweep, with training time and the break-even number of instances."""
    lines = ["| n | width | training | gap % mean / max | max ineq. viol. | max eq. viol. | reference / learned time "
             "| break-even instances |", "|---|---|---|---|---|---|---|---|"]
    for r in break_even(doc):
        be = "never" if r["break_even_instances"] is None else f"{r['break_even_instances']:.3g}"
        lines.append(f"| {r['n']} | {r['hidden'][0]} | {r['train_seconds']:.1f} s ({r['train_steps']} steps) | "
                     f"{r['gap_mean']:.3g} / {r['gap_max']:.3g} | {r['ineq_max']:.2g} | {r['eq_max']:.1g} | "
                     f"{r['ref_time_per_instance'] / r['time_per_instance']:.3g}× | {be} |")
    return "\n".join(lines)


def summary_table(doc: dict[str, Any], *, tail: int = 3, solver: str = "Clarabel") -> str:
    """Markdown: each method's exponent over its ``tail`` largest sizes and where it crosses ``solver`` (wall time)."""
    cross = {(c["family"], c["method"]): c for c in crossovers(doc) if c["solver"] == solver}
    lines = [f"| family | method | kind | α ({tail} largest sizes) | ± s.e. | crossing with {solver} (wall time) |",
             "|---|---|---|---|---|---|"]
    for e in exponents(doc, tail=tail):
        if e["time"] != "wall":
            continue
        c = cross.get((e["family"], e["method"]))
        if c is None:
            where = "—"
        elif c["crossings"]:
            where = ", ".join(f"n ≈ {v:.3g}" for v in c["crossings"])
        elif c["extrapolated"]:
            where = f"none measured; the fits meet at n ≈ {c['extrapolated']:.3g}"
        else:
            where = "none: faster at every size" if c["ratio_last"] < 1 else "none: slower at every size"
        se = "—" if math.isnan(e["se"]) else f"{e['se']:.2f}"
        lines.append(f"| {e['family']} | {e['method']} | {e['kind']} | {e['alpha']:.2f} | {se} | {where} |")
    return "\n".join(lines)


__all__ = ["DEFAULT_PATH", "SCHEMA", "accuracy_table", "batch_one", "break_even", "crossover", "crossover_table", "crossovers",
           "exponent_table", "exponents", "families", "fit_exponent", "load", "load_recorded", "memory_table", "methods_of",
           "overhead", "overhead_table", "plot_accuracy", "plot_batches", "plot_sizes", "saturation", "saturation_table",
           "save_plots", "skipped_table", "summary_table", "validate"]
