"""The scaling study's analysis (numpy only): exponents of time ∝ n^α, crossovers, batch saturation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: the largest size a crossing is extrapolated to from the power-law fits (further out means nothing)
EXTRAPOLATE_MAX = 1e6


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
