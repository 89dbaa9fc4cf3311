"""Where learning wins: the certified active set against DAQP and explicit MPC as the MPC problem grows.

``python -m l2o_lib.mpc_sizes`` runs the sweep (:mod:`l2o_lib.mpc_sizes.sweep`) and writes
``data/mpc_sizes.json``; chapter 8 and the scaling page read it with :func:`load` and compute what they state
from it: :func:`ratios` (speed-ups of the certified pipeline per size), :func:`target` (where it is at least
3× faster than both DAQP's own time and explicit MPC's point location, with ≥ 90 % certified by the first
candidate and 100 % after the fallback, or why not), :func:`crossovers`, :func:`table` and :func:`plot_sizes`
(numpy and matplotlib only).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "l2o-book/mpc-sizes/1"
KEYS = {"schema", "mode", "config", "environment", "seconds", "sizes"}
SIZE_KEYS = {"system", "horizon", "nx", "nu", "n_train", "n_test", "strategies", "classifier", "nearest", "partition",
             "tree", "storage_bytes", "time", "load_average"}
PIPELINE = "certified active set"
NEAREST = "nearest neighbour + certificate"
DAQP_OWN, DAQP_WALL = "DAQP, own time", "DAQP, wall"
EXPLICIT = ("explicit MPC, sequential", "explicit MPC, tree")
METHODS = (PIPELINE, NEAREST, DAQP_OWN, DAQP_WALL, *EXPLICIT)


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """Return ``doc`` if it is an mpc-sizes document (schema, keys, positive finite times); else ValueError."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else doc
        raise ValueError(f"mpc_sizes: not a {SCHEMA} document (schema {got!r})")
    missing = KEYS - set(doc)
    if missing:
        raise ValueError(f"mpc_sizes: document lacks {sorted(missing)}")
    for i, row in enumerate(doc["sizes"]):
        lack = SIZE_KEYS - set(row)
        if lack:
            raise ValueError(f"mpc_sizes: sizes[{i}] lacks {sorted(lack)}")
        where = f"sizes[{i}] ({row['system']}, N = {row['horizon']})"
        for need in (PIPELINE, NEAREST, DAQP_OWN, DAQP_WALL):
            if need not in row["time"]:
                raise ValueError(f"mpc_sizes: {where} has no time for {need!r}")
        for method, t in row["time"].items():
            if method not in METHODS:
                raise ValueError(f"mpc_sizes: {where} times an unknown method {method!r}")
            for label, v in (("batched", t.get("batched")), ("one-state mean", t["one"]["mean"])):
                if v is None and label == "batched" and method in (DAQP_OWN, DAQP_WALL):
                    continue
                if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                    raise ValueError(f"mpc_sizes: {where}, {method}: {label} time {v!r} is not a positive number")
        if row["partition"]["complete"] and EXPLICIT[0] not in row["time"]:
            raise ValueError(f"mpc_sizes: {where} has a complete partition but no explicit MPC time")
    return doc


def default_path(quick: bool = False) -> Path:
    """Where the recorded sweep lives: ``mpc_sizes.json`` (or ``mpc_sizes_quick.json``) in the data folder."""
    from l2o_lib.paths import data_dir

    return data_dir() / ("mpc_sizes_quick.json" if quick else "mpc_sizes.json")


def load(path: str | Path | None = None) -> dict[str, Any]:
    """The recorded sweep (``mpc_sizes.json`` in ``$L2O_DATA_DIR`` or the repository's ``data/``), validated."""
    import json

    file = default_path() if path is None else Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"mpc_sizes: no recorded sweep at {file}; run `python -m l2o_lib.mpc_sizes`")
    return validate(json.loads(file.read_text()))


def systems(doc: dict[str, Any]) -> list[str]:
    """The systems of the sweep, in the order they were run."""
    return list(dict.fromkeys(r["system"] for r in doc["sizes"]))


def _explicit_best(row: dict[str, Any], mode: str) -> tuple[str | None, float | None]:
    best = None
    for m in EXPLICIT:
        t = row["time"].get(m)
        if t is None:
            continue
        v = t["batched"] if mode == "batched" else t["one"]["mean"]
        if best is None or v < best[1]:
            best = (m, v)
    return best or (None, None)


def ratios(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per size, how many times faster the certified pipeline is than each baseline (> 1: the pipeline wins).

    ``batched``: the pipeline's batched time per state against DAQP's own time per state (DAQP runs one state
    per call) and against the faster explicit point location, batched; ``one``: one state per call for
    every method (means over the states), against DAQP's own and wall time and the faster explicit search.
    Explicit ratios are None where the partition was not enumerated within its time limit.
    """
    out = []
    for r in doc["sizes"]:
        t = r["time"]
        pb, po = t[PIPELINE]["batched"], t[PIPELINE]["one"]["mean"]
        own, wall = t[DAQP_OWN]["one"]["mean"], t[DAQP_WALL]["one"]["mean"]
        eb_name, eb = _explicit_best(r, "batched")
        eo_name, eo = _explicit_best(r, "one")
        out.append({"system": r["system"], "horizon": r["horizon"], "n_test": r["n_test"],
                    "batched_vs_daqp_own": own / pb, "batched_vs_explicit": None if eb is None else eb / pb,
                    "explicit_batched": eb_name, "one_vs_daqp_own": own / po, "one_vs_daqp_wall": wall / po,
                    "one_vs_explicit": None if eo is None else eo / po, "explicit_one": eo_name,
                    "first_certified": r["classifier"]["first_certified"], "certified": r["classifier"]["certified"]})
    return out


def target(doc: dict[str, Any], *, factor: float = 3.0, first: float = 0.9) -> list[dict[str, Any]]:
    """Per size and timing mode: is the pipeline ≥ ``factor``× faster than both DAQP's own time and explicit MPC,
    with ≥ ``first`` certified by the first candidate and every answer certified? ``reasons`` lists what fails."""
    out = []
    for q in ratios(doc):
        for mode in ("batched", "one"):
            reasons = []
            vs_daqp, vs_exp = q[f"{mode}_vs_daqp_own"], q[f"{mode}_vs_explicit"]
            if vs_daqp < factor:
                reasons.append(f"only {vs_daqp:.2g}× DAQP's own time")
            if vs_exp is None:
                reasons.append("no explicit MPC to compare with (partition not enumerated within its time limit)")
            elif vs_exp < factor:
                reasons.append(f"only {vs_exp:.2g}× explicit MPC")
            if q["first_certified"] < first:
                reasons.append(f"first candidate certified {q['first_certified']:.1%}")
            if q["certified"] < 1.0:
                reasons.append(f"certified {q['certified']:.1%} after the fallback")
            out.append({"system": q["system"], "horizon": q["horizon"], "mode": mode, "met": not reasons,
                        "reasons": reasons})
    return out


def crossovers(doc: dict[str, Any], *, mode: str = "batched") -> list[dict[str, Any]]:
    """Per system and baseline, the horizons where the pipeline's time curve crosses the baseline's (log-log
    interpolation between measured horizons, :func:`l2o_lib.scaling.crossover`), and the ratios at the ends."""
    from l2o_lib.scaling import crossover

    out = []
    for system in systems(doc):
        rows = sorted((r for r in doc["sizes"] if r["system"] == system), key=lambda r: r["horizon"])
        pipe = {r["horizon"]: (r["time"][PIPELINE]["batched"] if mode == "batched" else r["time"][PIPELINE]["one"]["mean"])
                for r in rows}
        for base in (DAQP_OWN, DAQP_WALL, NEAREST, *EXPLICIT):
            pts = []
            for r in rows:
                t = r["time"].get(base)
                if t is None:
                    continue
                v = t["one"]["mean"] if (mode == "one" or t["batched"] is None) else t["batched"]
                pts.append((r["horizon"], pipe[r["horizon"]], v))
            if len(pts) < 2:
                continue
            n, a, b = (np.array(c, dtype=float) for c in zip(*pts))
            out.append({"system": system, "baseline": base, "mode": mode, "horizons": n.tolist(),
                        "ratio_first": float(b[0] / a[0]), "ratio_last": float(b[-1] / a[-1]),
                        "crossings": crossover(n, a, b)})
    return out


def _us(v: float | None) -> str:
    return "—" if v is None else f"{1e6 * v:.3g}"


def _kb(v: int | None) -> str:
    return "—" if v is None else f"{v / 1024:.3g}"


def table(doc: dict[str, Any]) -> str:
    """Markdown: per size, strategies, regions, accuracy, storage (kB) and µs per state (batched / one state)."""
    lines = ["| system | N | strategies (training) | regions | top-1 | first certified | certified | "
             "storage kB: learned / NN / explicit (seq, tree) | µs batched: learned / NN / explicit (seq, tree) | "
             "µs one state: learned / NN / DAQP own / DAQP wall / explicit (seq, tree) | test states |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["sizes"]:
        p, t, s = r["partition"], r["time"], r["storage_bytes"]
        regions = f"{p['regions']}" if p["complete"] else f"≥ {p['regions']} (stopped at {p['time_limit']:.0f} s)"

        b = {m: _us(t[m]["batched"]) if m in t else "—" for m in METHODS if m not in (DAQP_OWN, DAQP_WALL)}
        o = {m: _us(t[m]["one"]["mean"]) if m in t else "—" for m in METHODS}
        lines.append(
            f"| {r['system']} | {r['horizon']} | {r['strategies']} | {regions} | {r['classifier']['top1']:.1%} | "
            f"{r['classifier']['first_certified']:.1%} | {r['classifier']['certified']:.0%} | "
            f"{_kb(s[PIPELINE])} / {_kb(s[NEAREST])} / {_kb(s.get(EXPLICIT[0]))}, {_kb(s.get(EXPLICIT[1]))} | "
            f"{b[PIPELINE]} / {b[NEAREST]} / {b[EXPLICIT[0]]}, {b[EXPLICIT[1]]} | "
            f"{o[PIPELINE]} / {o[NEAREST]} / {o[DAQP_OWN]} / {o[DAQP_WALL]} / {o[EXPLICIT[0]]}, {o[EXPLICIT[1]]} | "
            f"{r['n_test']} |")
    return "\n".join(lines)


STYLE = {PIPELINE: dict(color="C3", marker="o", ls="-"), NEAREST: dict(color="C1", marker="v", ls="-"),
         DAQP_OWN: dict(color="C0", marker="s", ls="--"), DAQP_WALL: dict(color="C0", marker="s", ls=":", mfc="none"),
         EXPLICIT[0]: dict(color="C2", marker="^", ls="-."), EXPLICIT[1]: dict(color="C2", marker="D", ls="-")}


def _horizon_axis(ax: Any, horizons: list[int]) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(horizons)
    ax.set_xticklabels([str(h) for h in horizons])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_sizes(doc: dict[str, Any], axes: Any = None, *, mode: str = "batched") -> Any:
    """One column per system: µs per state against the horizon N (top; DAQP always one state per call) and the
    number of strategies seen in training and of critical regions (bottom; an open marker: the enumeration
    stopped at its time limit, a lower bound)."""
    import matplotlib.pyplot as plt

    names = systems(doc)
    if axes is None:
        axes = plt.subplots(2, len(names), figsize=(4.6 * len(names), 6.4), squeeze=False)[1]
    for j, system in enumerate(names):
        rows = sorted((r for r in doc["sizes"] if r["system"] == system), key=lambda r: r["horizon"])
        ax = axes[0][j]
        for m in METHODS:
            pts = [(r["horizon"], r["time"][m]["one"]["mean"] if (mode == "one" or r["time"][m]["batched"] is None)
                    else r["time"][m]["batched"]) for r in rows if m in r["time"]]
            if pts:
                ax.plot(*zip(*[(n, 1e6 * v) for n, v in pts]), label=m, **STYLE[m])
        ax.set(xscale="log", yscale="log", xlabel="horizon N", ylabel="µs per state",
               title=f"{system} ({'batched' if mode == 'batched' else 'one state per call'})")
        _horizon_axis(ax, [r["horizon"] for r in rows])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
        ax = axes[1][j]
        n = [r["horizon"] for r in rows]
        ax.plot(n, [r["strategies"] for r in rows], "o-", color="C3", label="strategies in training")
        for r in rows:
            ax.plot(r["horizon"], r["partition"]["regions"], "D", color="C2",
                    mfc="C2" if r["partition"]["complete"] else "none")
        ax.plot([], [], "D", color="C2", label="critical regions (open: ≥, enumeration stopped)")
        for r in rows:
            ax.annotate(f"{r['classifier']['first_certified']:.0%}", (r["horizon"], r["strategies"]), fontsize=6,
                        textcoords="offset points", xytext=(8, -3), ha="left", color="C3")
        ax.set(xscale="log", yscale="log", xlabel="horizon N", ylabel="count",
               title="strategies (label: first certified) and regions")
        _horizon_axis(ax, n)
        ax.margins(x=0.15)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    return axes


__all__ = ["METHODS", "SCHEMA", "crossovers", "default_path", "load", "plot_sizes", "ratios", "systems", "table",
           "target", "validate"]
