"""How the book scores a method: optimality gap, constraint violations and speed, against a reference.

Conventions (the same in every chapter and in the scorecard):

* gap % = 100 · |f(x̂; ξ) − f*(ξ)| / max(|f*(ξ)|, 1), so instances with f* = 0 stay well defined;
* a violation is measured per instance as the largest one over its constraints,
  max_j |h_j(x̂; ξ)| and max_j max(g_j(x̂; ξ), 0), in the problem's own units; the table reports the
  mean and the max of that over the instances;
* times are per instance, the method's batched call timed after warm-up with devices synchronized,
  the reference's as its solver reports it (``solve_time``, modeling overhead excluded unless stated).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from l2o_lib.problems.base import ProblemFamily, Solution


def _as_numpy(a: Any, what: str) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu()
        a = (a if a.is_floating_point() and a.element_size() >= 4 else a.double()).numpy()
    if isinstance(a, np.ndarray) and a.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected a real numeric array, got dtype {a.dtype}")
    try:
        return np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: expected numbers, got {type(a).__name__} {a!r:.80}") from None


def gap_percent(f_hat: Any, f_star: Any) -> np.ndarray:
    """100 · |f̂ − f*| / max(|f*|, 1), elementwise; f* must be finite (NaN in f̂ passes through)."""
    f_hat, f_star = _as_numpy(f_hat, "gap_percent f_hat"), _as_numpy(f_star, "gap_percent f_star")
    if f_hat.shape != f_star.shape:
        raise ValueError(f"gap_percent: f_hat has shape {f_hat.shape} but f_star has {f_star.shape}")
    if not np.all(np.isfinite(f_star)):
        raise ValueError(f"gap_percent: f_star has {int(np.sum(~np.isfinite(f_star)))} non-finite values")
    return 100.0 * np.abs(f_hat - f_star) / np.maximum(np.abs(f_star), 1.0)


def violations(family: ProblemFamily, x: Any, xi: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-instance (equality, inequality) violation: max_j |h_j| and max_j max(g_j, 0)."""
    x, xi = _as_numpy(x, "violations x"), _as_numpy(xi, "violations ξ")
    h = np.abs(family.eq_residual(x, xi))
    g = np.maximum(family.ineq_residual(x, xi), 0.0)
    eq = h.max(axis=1) if h.shape[1] else np.zeros(len(x))
    ineq = g.max(axis=1) if g.shape[1] else np.zeros(len(x))
    return eq, ineq


def synchronize(result: Any) -> Any:
    """Wait until ``result`` is computed (CUDA torch tensors, JAX arrays, nested tuples/dicts)."""
    if isinstance(result, (tuple, list)):
        for r in result:
            synchronize(r)
    elif isinstance(result, dict):
        for r in result.values():
            synchronize(r)
    elif hasattr(result, "block_until_ready"):
        result.block_until_ready()
    elif "torch" in sys.modules and hasattr(result, "is_cuda") and result.is_cuda:
        sys.modules["torch"].cuda.synchronize(result.device)
    return result


def timeit(fn: Callable[..., Any], *args: Any, warmup: int = 1, repeat: int = 5, **kwargs: Any) -> float:
    """Median wall seconds of ``fn(*args, **kwargs)`` after ``warmup`` calls, devices synchronized."""
    if repeat < 1 or warmup < 0:
        raise ValueError(f"timeit: need repeat ≥ 1 and warmup ≥ 0, got repeat={repeat}, warmup={warmup}")
    for _ in range(warmup):
        synchronize(fn(*args, **kwargs))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        synchronize(fn(*args, **kwargs))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


@dataclass
class Row:
    """One line of a results table."""

    method: str
    n: int
    gap_mean: float
    gap_max: float
    eq_mean: float
    eq_max: float
    ineq_mean: float
    ineq_max: float
    time_per_instance: float | None = None
    speedup: float | None = None
    failed: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    family: ProblemFamily,
    x: Any,
    xi: Any,
    reference: Solution,
    *,
    method: str = "method",
    time_per_instance: float | None = None,
    reference_time: float | None = None,
) -> Row:
    """Score predictions ``x`` on instances ``xi`` against ``reference`` (instances it failed are skipped).

    Rows of ``x`` that are non-finite or outside f's domain count as ``failed`` and are left out of the
    statistics; they are reported, never dropped silently.
    """
    x, xi = _as_numpy(x, f"evaluate({method}) x"), _as_numpy(xi, f"evaluate({method}) ξ")
    family.check_params(xi, check_domain=False, where=f"evaluate({method})")
    if x.shape != (xi.shape[0], family.n_vars):
        raise ValueError(f"evaluate({method}): x must have shape ({xi.shape[0]}, {family.n_vars}), got {x.shape}")
    reference.check_instances(xi, f"evaluate({method})")
    ok = reference.ok
    if not ok.any():
        raise ValueError(f"evaluate({method}): the reference solved none of the {len(ok)} instances")
    finite = np.all(np.isfinite(x), axis=1)
    use = ok & finite
    f_hat = np.full(len(x), np.nan)
    if use.any():
        f_hat[use] = family.objective(x[use], xi[use])
    use &= np.isfinite(f_hat)
    failed = int(np.sum(ok & ~use))
    if not use.any():
        nan = float("nan")
        return Row(method, int(ok.sum()), nan, nan, nan, nan, nan, nan, time_per_instance, None, failed,
                   "every prediction failed")
    gap = gap_percent(f_hat[use], reference.objective[use])
    eq, ineq = violations(family, x[use], xi[use])
    speedup = None
    if time_per_instance is not None:
        ref_t = reference_time if reference_time is not None else float(np.mean(reference.solve_time[ok]))
        speedup = ref_t / time_per_instance if time_per_instance > 0 else None
    note = f"reference failed on {int((~ok).sum())}" if (~ok).any() else ""
    return Row(method, int(use.sum()), float(gap.mean()), float(gap.max()), float(eq.mean()), float(eq.max()),
               float(ineq.mean()), float(ineq.max()), time_per_instance, speedup, failed, note)


def reference_row(family: ProblemFamily, xi: Any, reference: Solution, *, wall: bool = False,
                  time_per_instance: float | None = None) -> Row:
    """The reference solver's own line: zero gap by definition, its violations, its time per instance (its
    recorded ``solve_time``, or ``time_per_instance`` when the time was measured again, e.g. in this run)."""
    xi = _as_numpy(xi, "reference_row ξ")
    _check_reference(xi, reference, "reference_row")
    ok = reference.ok
    eq, ineq = violations(family, reference.x[ok], xi[ok])
    t = reference.wall_time if wall else reference.solve_time
    label = reference.solver + (" (wall, with modeling)" if wall else "")
    seconds = float(np.mean(t[ok])) if wall or time_per_instance is None else float(time_per_instance)
    return Row(label, int(ok.sum()), 0.0, 0.0, float(eq.mean()), float(eq.max()), float(ineq.mean()),
               float(ineq.max()), seconds, 1.0 if not wall else None, int((~ok).sum()))


def _check_reference(xi: np.ndarray, reference: Solution, where: str) -> None:
    if not isinstance(reference, Solution):
        raise TypeError(f"{where}: reference must be a Solution (family.solve(ξ)), got {type(reference).__name__}")
    if xi.ndim != 2 or len(xi) == 0:
        raise ValueError(f"{where}: ξ must be a non-empty batch (batch, n_params), got shape {xi.shape}")
    reference.check_instances(xi, where)
    if not reference.ok.any():
        raise ValueError(f"{where}: the reference ({reference.solver}) solved none of the {len(reference)} instances")


def _fmt(v: float | None, kind: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if kind == "gap":
        return f"{v:.3g}"
    if kind == "viol":
        return "0" if v == 0 else f"{v:.1e}"
    if kind == "time":
        if v < 1e-3:
            return f"{v * 1e6:.3g} µs"
        return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"
    if kind == "speed":
        return f"{v:.3g}×"
    return str(v)


@dataclass
class Table:
    """A table of result rows that renders as Markdown in Jupyter; rows are looked up by their :attr:`key` field.

    Subclasses write :meth:`to_markdown`; each row has ``to_dict()``.
    """

    rows: list[Any] = field(default_factory=list)
    title: str = ""
    key: ClassVar[str] = "method"

    def add(self, row: Any) -> Table:
        self.rows.append(row)
        return self

    def __getitem__(self, name: str) -> Any:
        for r in self.rows:
            if getattr(r, self.key) == name:
                return r
        raise KeyError(f"no row {name!r}; rows: {[getattr(r, self.key) for r in self.rows]}")

    def to_markdown(self) -> str:
        raise NotImplementedError

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()

    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]


@dataclass
class ResultsTable(Table):
    """The book's results table; renders as Markdown in Jupyter and converts to dicts for JSON."""

    rows: list[Row] = field(default_factory=list)

    def to_markdown(self) -> str:
        head = ("| method | n | gap % (mean / max) | eq. viol. (mean / max) | ineq. viol. (mean / max) "
                "| time / instance | speed-up vs reference |")
        lines = [f"**{self.title}**\n" if self.title else "", head, "|" + "---|" * 7]
        for r in self.rows:
            fail = f" ({r.failed} failed)" if r.failed else ""
            lines.append(
                f"| {r.method}{fail} | {r.n} | {_fmt(r.gap_mean, 'gap')} / {_fmt(r.gap_max, 'gap')} "
                f"| {_fmt(r.eq_mean, 'viol')} / {_fmt(r.eq_max, 'viol')} "
                f"| {_fmt(r.ineq_mean, 'viol')} / {_fmt(r.ineq_max, 'viol')} "
                f"| {_fmt(r.time_per_instance, 'time')} | {_fmt(r.speedup, 'speed')} |"
            )
        return "\n".join(line for line in lines if line != "")


def compare(
    family: ProblemFamily,
    methods: dict[str, Callable[[np.ndarray], Any]],
    xi: np.ndarray,
    reference: Solution | None = None,
    *,
    title: str = "",
    repeat: int = 3,
    include_wall: bool = True,
    reference_time: float | None = None,
) -> ResultsTable:
    """Run each batched ``method(ξ) -> x`` on all of ``xi`` (timed after warm-up) and score it.

    Without ``reference`` the reference solver runs here, so every time in the table comes from
    this one run. The reference rows come first: solver time, and wall time with modeling overhead.
    ``reference_time``: the reference solver's time per instance measured in this run (when ``reference`` comes
    from a cache made elsewhere); the first row and every speed-up use it.
    """
    if not methods:
        raise ValueError("compare: give at least one method")
    xi = np.asarray(family.check_params(xi, check_domain=False, where="compare"), dtype=float)
    if len(xi) == 0:
        raise ValueError("compare: ξ is an empty batch; give at least one instance")
    if reference is None:
        reference = family.solve(xi, check_domain=False)
    _check_reference(xi, reference, "compare")
    if reference_time is not None and not (np.isfinite(reference_time) and reference_time > 0):
        raise ValueError(f"compare: reference_time must be a positive number of seconds, got {reference_time!r}")
    table = ResultsTable(title=title or f"{family.name}: {len(xi)} held-out instances")
    table.add(reference_row(family, xi, reference, time_per_instance=reference_time))
    if include_wall:
        table.add(reference_row(family, xi, reference, wall=True))
    for name, fn in methods.items():
        if not callable(fn):
            raise TypeError(f"compare: method {name!r} is not callable")
        seconds = timeit(fn, xi, warmup=1, repeat=repeat)
        x = fn(xi)
        table.add(evaluate(family, x, xi, reference, method=name, time_per_instance=seconds / len(xi),
                           reference_time=reference_time))
    return table


def per_instance(family: ProblemFamily, x: Any, xi: Any, reference: Solution) -> dict[str, np.ndarray]:
    """Per-instance gap and violations (NaN where reference or prediction failed), for box plots."""
    x, xi = _as_numpy(x, "per_instance x"), _as_numpy(xi, "per_instance ξ")
    family.check_params(xi, check_domain=False, where="per_instance")
    if x.shape != (len(xi), family.n_vars):
        raise ValueError(f"per_instance: x must have shape ({len(xi)}, {family.n_vars}), got {x.shape}")
    if not isinstance(reference, Solution) or len(reference) != len(xi):
        raise ValueError(f"per_instance: reference must be a Solution of the {len(xi)} instances of ξ, got "
                         f"{len(reference) if isinstance(reference, Solution) else type(reference).__name__}")
    out = {k: np.full(len(x), np.nan) for k in ("gap", "eq", "ineq")}
    use = reference.ok & np.all(np.isfinite(x), axis=1)
    if use.any():
        out["gap"][use] = gap_percent(family.objective(x[use], xi[use]), reference.objective[use])
        out["eq"][use], out["ineq"][use] = violations(family, x[use], xi[use])
    return out


__all__: Sequence[str] = [
    "ResultsTable", "Row", "compare", "evaluate", "gap_percent", "per_instance", "reference_row",
    "synchronize", "timeit", "violations",
]
