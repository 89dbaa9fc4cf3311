"""The scaling study's report: plots and Markdown tables of a recorded sweep."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from l2o_lib.scaling.analysis import (
    _series,
    break_even,
    crossovers,
    exponents,
    families,
    methods_of,
    saturation,
)

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
