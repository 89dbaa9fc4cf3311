"""The trajectory viewer (chapter 9): a slider over initial states shows each controller's closed loop.

``runs`` maps a controller's name to anything with ``x`` (batch, T+1, 2) and ``u`` (batch, T, n_u) arrays,
all simulated from the same initial states (e.g. :class:`l2o_lib.control.ClosedLoop`). The left panel is
the plane (the phase plane with its state box and safe set, or positions among obstacles), the right one the
inputs over time.
:func:`outcome_map` colours every initial state by what each controller made of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from l2o_lib.viz.static import StaticSlider, redraw

_STYLES = ["k-", "C0--", "C1-", "C2-", "C3-.", "C4:", "C5-"]


def _check_runs(runs: dict[str, Any]) -> dict[str, Any]:
    if not runs:
        raise ValueError("give at least one run")
    shapes = {name: np.shape(r.x) for name, r in runs.items()}
    first = next(iter(shapes.values()))
    if len(first) != 3 or first[2] != 2 or any(s != first for s in shapes.values()):
        raise ValueError(f"runs must share x of shape (batch, T+1, 2); got {shapes}")
    return runs


def draw_trajectories(fig: Any, runs: dict[str, Any], i: int, *, region: np.ndarray | None = None,
                      box: float | None = None, u_bound: float | None = None,
                      obstacles: tuple[np.ndarray, np.ndarray] | None = None, goal: np.ndarray | None = None,
                      extent: tuple[float, float, float, float] | None = None,
                      axis_labels: tuple[str, str] = ("position x₁", "velocity x₂")) -> None:
    """Run ``i`` of every controller: the plane (left) and the inputs, every component (right).

    ``obstacles = (lower-left, upper-right)`` corners, each (batch, n_obstacles, 2), are drawn as grey rectangles
    and ``goal`` (batch, 2) as a star; ``extent`` (x_min, x_max, y_min, y_max) frames the plane.
    """
    runs = _check_runs(runs)
    ax, ax_u = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    if box is not None:
        ax.plot([-box, box, box, -box, -box], [-box, -box, box, box, -box], color="0.5", lw=1, label="state box")
    if region is not None:
        closed = np.vstack([region, region[:1]])
        ax.fill(closed[:, 0], closed[:, 1], color="#c6dbef", alpha=0.6, label="control invariant set")
    if obstacles is not None or goal is not None:
        draw_scene(ax, None if obstacles is None else tuple(np.asarray(c, dtype=float)[i] for c in obstacles),
                   None if goal is None else np.asarray(goal, dtype=float)[i])
    for k, (name, r) in enumerate(runs.items()):
        x, u = np.asarray(r.x)[i], np.asarray(r.u)[i]
        style = _STYLES[k % len(_STYLES)]
        ax.plot(x[:, 0], x[:, 1], style, lw=1.4, marker=".", ms=3, label=name)
        for j in range(u.shape[1]):
            ax_u.step(np.arange(len(u)), u[:, j], style, where="post", lw=1.2, alpha=1.0 if j == 0 else 0.5,
                      label=name if j == 0 else None)
    x0 = np.asarray(next(iter(runs.values())).x)[i, 0]
    ax.plot(*x0, "k*", ms=11)
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=f"x₀ = ({x0[0]:.2f}, {x0[1]:.2f})")
    if box is not None:
        ax.set(xlim=(-1.15 * box, 1.15 * box), ylim=(-0.75 * box, 0.75 * box))
    if extent is not None:
        ax.set(xlim=extent[:2], ylim=extent[2:], aspect="equal")
    if u_bound is not None:
        for s in (-1, 1):
            ax_u.axhline(s * u_bound, color="0.5", lw=1, ls=":")
    ax_u.set(xlabel="step t", ylabel="input u_t", title="inputs" + (" (each component)" if u.shape[1] > 1 else ""))
    ax.legend(fontsize=7, loc="lower left")


def draw_scene(ax: Any, obstacles: tuple[np.ndarray, np.ndarray] | None = None, goal: np.ndarray | None = None,
               paths: dict[str, np.ndarray] | None = None, extent: tuple[float, float, float, float] | None = None
               ) -> None:
    """One planar scene: obstacles (lower-left, upper-right corners, each (n, 2)) as grey rectangles, the goal
    (2,) as a star, and ``paths`` (name -> (T, 2) positions) as lines with markers."""
    if obstacles is not None:
        for k, (a, b) in enumerate(zip(*(np.asarray(c, dtype=float) for c in obstacles))):
            ax.add_patch(plt.Rectangle(a, *(b - a), color="0.75", label="obstacle" if k == 0 else None))
    if goal is not None:
        ax.plot(*np.asarray(goal, dtype=float), "r*", ms=12, label="goal")
    for k, (name, path) in enumerate((paths or {}).items()):
        path = np.asarray(path, dtype=float)
        ax.plot(path[:, 0], path[:, 1], _STYLES[k % len(_STYLES)], lw=1.4, marker=".", ms=4, label=name)
    if extent is not None:
        ax.set(xlim=extent[:2], ylim=extent[2:], aspect="equal")


class TrajectoryViewer:
    """The live viewer: a slider over the initial states; ``.update(i)`` redraws and returns seconds."""

    def __init__(self, runs: dict[str, Any], **kwargs: Any):
        import ipywidgets as w

        self.runs, self.kwargs = _check_runs(runs), kwargs
        n = len(np.asarray(next(iter(runs.values())).x))
        self.slider = w.IntSlider(value=0, min=0, max=n - 1, description="x₀ #", continuous_update=False)
        self.out = w.Output()
        self.widget = w.VBox([self.slider, self.out])
        self.slider.observe(lambda change: self.update(change["new"]), names="value")
        self.update(0)

    def update(self, i: int | None = None) -> float:
        if i is not None and int(i) != self.slider.value:
            if not 0 <= int(i) <= self.slider.max:
                raise ValueError(f"i must be in [0, {self.slider.max}], got {i}")
            self.slider.value = int(i)  # the observer redraws
            return self._last
        self._last = redraw(self.out, (11, 4), lambda fig: draw_trajectories(fig, self.runs, self.slider.value,
                                                                             **self.kwargs))
        return self._last

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def view_trajectories(runs: dict[str, Any], **kwargs: Any) -> TrajectoryViewer:
    """The trajectory viewer as a live widget (needs a kernel)."""
    return TrajectoryViewer(runs, **kwargs)


def trajectories_static(runs: dict[str, Any], *, indices: Sequence[int] | None = None,
                        title: str = "closed-loop trajectories (static)", **kwargs: Any) -> StaticSlider:
    """The viewer's picture for each initial state in ``indices`` (default: all, at most 24)."""
    runs = _check_runs(runs)
    n = len(np.asarray(next(iter(runs.values())).x))
    indices = list(range(min(n, 24))) if indices is None else [int(i) for i in indices]

    def draw(i: int):
        fig = plt.figure(figsize=(11, 4))
        draw_trajectories(fig, runs, i, **kwargs)
        fig.tight_layout()
        return fig

    return StaticSlider.render(draw, [("x₀ #", indices)], title=title)


def outcome_map(x0: np.ndarray, outcomes: dict[str, np.ndarray], *, region: np.ndarray | None = None,
                box: float | None = None, labels: Sequence[str] = ("stabilized, feasible", "violated", "diverged"),
                colors: Sequence[str] = ("#31a354", "#fd8d3c", "#de2d26")):
    """One panel per controller: initial states coloured by outcome code (0, 1, 2 index ``labels``)."""
    x0 = np.asarray(x0, dtype=float)
    n = len(outcomes)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.2), sharey=True, squeeze=False)
    for ax, (name, code) in zip(axes[0], outcomes.items()):
        code = np.asarray(code, dtype=int)
        if code.shape != (len(x0),):
            raise ValueError(f"outcome_map: {name!r} has {code.shape} codes for {len(x0)} initial states")
        if region is not None:
            closed = np.vstack([region, region[:1]])
            ax.plot(closed[:, 0], closed[:, 1], color="#3182bd", lw=1)
        for c in range(len(labels)):
            sel = code == c
            ax.scatter(x0[sel, 0], x0[sel, 1], s=6, color=colors[c], label=f"{labels[c]} ({sel.sum()})")
        if box is not None:
            ax.set(xlim=(-box, box), ylim=(-0.7 * box, 0.7 * box))
        ax.set(title=name, xlabel="x₁")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6, loc="lower left")
    axes[0][0].set_ylabel("x₂")
    fig.tight_layout()
    return fig
