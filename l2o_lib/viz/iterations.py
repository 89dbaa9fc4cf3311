"""The iteration viewer: a slider over k shows the iterates and residuals of one or two methods side by side.

A :class:`Trace` is what an iterative method leaves behind: its iterates x^k (shape ``(K+1, n)``) and
residual histories (each shape ``(K+1,)``). For 2-D families the iterates are drawn on the objective
contours; otherwise x^k is drawn against a target vector (e.g. x*) coordinate by coordinate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from l2o_lib.problems.base import ProblemFamily
from l2o_lib.viz.static import StaticSlider, redraw


@dataclass
class Trace:
    """Iterates ``x`` (K+1, n) and residual histories of one method on one instance."""

    name: str
    x: np.ndarray
    residuals: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=float)
        if self.x.ndim != 2 or len(self.x) < 1:
            raise ValueError(f"Trace {self.name!r}: x must have shape (K+1, n), got {self.x.shape}")
        for key, r in list(self.residuals.items()):
            r = np.asarray(r, dtype=float)
            if r.shape != (len(self.x),):
                raise ValueError(f"Trace {self.name!r}: residual {key!r} has shape {r.shape}, "
                                 f"expected ({len(self.x)},) to match the iterates")
            self.residuals[key] = r

    @property
    def K(self) -> int:
        return len(self.x) - 1


def _check_traces(traces: Sequence[Trace]) -> list[Trace]:
    traces = list(traces)
    if not 1 <= len(traces) <= 3 or not all(isinstance(t, Trace) for t in traces):
        raise ValueError("give one to three Trace objects")
    n = traces[0].x.shape[1]
    if any(t.x.shape[1] != n for t in traces):
        raise ValueError(f"traces have different dimensions {[t.x.shape[1] for t in traces]}")
    return traces


def draw_iterations(fig: Any, traces: Sequence[Trace], k: int, *, family: ProblemFamily | None = None,
                    xi: np.ndarray | None = None, target: np.ndarray | None = None) -> None:
    """Draw iteration ``k`` of each trace (left, one panel each) and all residuals up to the end (right)."""
    traces = _check_traces(traces)
    axes = fig.subplots(1, len(traces) + 1)
    two_d = family is not None and xi is not None and family.n_vars == 2 and hasattr(family, "objective_grid")
    for ax, tr in zip(axes[:-1], traces):
        kk = min(k, tr.K)
        if two_d:
            from l2o_lib.viz.explorer import draw_solution_map

            draw_solution_map(ax, family, np.asarray(xi, float), x_star=target if target is not None else None)
            ax.plot(tr.x[: kk + 1, 0], tr.x[: kk + 1, 1], "-o", ms=3, color="C3", lw=1, label="iterates")
            ax.get_legend().remove() if ax.get_legend() else None
        else:
            idx = np.arange(tr.x.shape[1])
            if target is not None:
                ax.plot(idx, target, "k_", ms=10, mew=2, label="target")
            ax.bar(idx, tr.x[kk], color="C0", alpha=0.7, label=f"x^{kk}")
            ax.set(xlabel="coordinate")
            ax.legend(fontsize=7)
        ax.set_title(f"{tr.name}: k = {kk}" + (" (last)" if k > tr.K else ""), fontsize=9)
    ax = axes[-1]
    for i, tr in enumerate(traces):
        for j, (key, r) in enumerate(tr.residuals.items()):
            ax.semilogy(np.arange(len(r)), np.maximum(r, 1e-16), ls=["-", "--", ":"][j % 3], color=f"C{i}",
                        label=f"{tr.name}: {key}")
    ax.axvline(k, color="k", lw=0.8)
    ax.set(xlabel="iteration k", title="residuals")
    ax.legend(fontsize=7)


class IterationViewer:
    """Live viewer; ``.widget`` holds the k slider, ``.update(k)`` redraws and returns seconds."""

    def __init__(self, traces: Sequence[Trace], *, family: ProblemFamily | None = None,
                 xi: np.ndarray | None = None, target: np.ndarray | None = None):
        import ipywidgets as w

        self.traces = _check_traces(traces)
        self.family, self.xi, self.target = family, xi, target
        k_max = max(t.K for t in self.traces)
        self.slider = w.IntSlider(value=0, min=0, max=k_max, description="k", continuous_update=False)
        self.play = w.Play(value=0, min=0, max=k_max, interval=400)
        w.jslink((self.play, "value"), (self.slider, "value"))
        self.out = w.Output()
        self.widget = w.VBox([w.HBox([self.play, self.slider]), self.out])
        self.slider.observe(lambda change: self.update(change["new"]), names="value")
        self.update(0)

    def update(self, k: int | None = None) -> float:
        if k is not None:
            if not 0 <= int(k) <= self.slider.max:
                raise ValueError(f"k must be in [0, {self.slider.max}], got {k}")
            if self.slider.value != int(k):
                self.slider.value = int(k)  # the observer redraws
                return self._last
        self._last = redraw(self.out, (4.2 * (len(self.traces) + 1), 3.8), lambda fig: draw_iterations(
            fig, self.traces, self.slider.value, family=self.family, xi=self.xi, target=self.target))
        return self._last

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def view_iterations(traces: Sequence[Trace], **kwargs: Any) -> IterationViewer:
    """The iteration viewer as a live widget (needs a kernel)."""
    return IterationViewer(traces, **kwargs)


def iterations_static(traces: Sequence[Trace], *, family: ProblemFamily | None = None, xi: np.ndarray | None = None,
                      target: np.ndarray | None = None, ks: Sequence[int] | None = None,
                      title: str = "iteration viewer (static)") -> StaticSlider:
    """The viewer's picture at each k in ``ks`` (default: every iteration, at most 40 frames)."""
    traces = _check_traces(traces)
    k_max = max(t.K for t in traces)
    if ks is None:
        ks = sorted(set(np.linspace(0, k_max, min(k_max + 1, 40)).round().astype(int).tolist()))

    def draw(k: int):
        fig = plt.figure(figsize=(4.2 * (len(traces) + 1), 3.8))
        draw_iterations(fig, traces, int(k), family=family, xi=xi, target=target)
        fig.tight_layout()
        return fig

    return StaticSlider.render(draw, [("k", [int(k) for k in ks])], title=title)
