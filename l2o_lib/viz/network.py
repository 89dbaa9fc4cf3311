"""The power-network drawing of chapter 10: buses coloured by voltage magnitude, lines by their flow.

``draw_network(ax, family, x)`` draws one operating point x of an AC-OPF family (anything with ``net``, ``split``
and ``loading``, :class:`~l2o_lib.problems.acopf.ACOPF`); :func:`view_network` is the live widget (a slider over a
load scale s: every load at s times its nominal value, each panel one solution map), :func:`network_static` its
static twin for the HTML book (the same panels, pre-rendered over a grid of s).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection

from l2o_lib.viz.static import StaticSlider, redraw

Solver = Callable[[np.ndarray], np.ndarray]


def scaled_loads(family: Any, scale: float) -> np.ndarray:
    """The nominal loads times ``scale``, one instance ``(1, n_params)``."""
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    return scale * family.nominal()


def draw_network(ax: Any, family: Any, x: np.ndarray | None, *, title: str = "", vlim: tuple[float, float] | None = None,
                 flow_max: float | None = None, note: str = "") -> tuple[Any, Any]:
    """Draw the operating point ``x`` (shape ``(n_vars,)``; None draws the bare network with ``note``).

    Lines are coloured by max(|S_f|, |S_t|) in MVA (a rated line at or over its rating gets a red outline), buses by
    Vm in p.u. (generator buses as squares). Returns the two mappables (lines, buses) for colour bars.
    """
    net = family.net
    xy = net.coords
    if not np.all(np.isfinite(xy)):
        raise ValueError(f"{family.name}: the network has buses without drawing coordinates")
    segments = np.stack([xy[net.f_bus], xy[net.t_bus]], axis=1)
    vlim = vlim or (float(net.vmin.min()), float(net.vmax.max()))
    gen = np.zeros(net.n_bus, dtype=bool)
    gen[net.gen_bus] = True
    if x is None:
        lines = LineCollection(segments, colors="0.7", linewidths=1.0)
        ax.add_collection(lines)
        buses = ax.scatter(*xy.T, s=18, c="0.6", zorder=3)
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", fontsize=10,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "0.5"})
    else:
        x = np.asarray(x, dtype=float).reshape(1, -1)
        flow = family.loading(x)[0]
        lines = LineCollection(segments, array=flow, cmap="viridis", linewidths=2.0, clim=(0, flow_max or flow.max()))
        ax.add_collection(lines)
        rated = np.flatnonzero(np.isfinite(family.rating))
        over = rated[flow[rated] >= family.rating[rated] * net.base_mva * (1 - 1e-6)]
        if len(over):
            ax.add_collection(LineCollection(segments[over], colors="red", linewidths=5.0, alpha=0.45, zorder=1))
        vm = family.split(x)[2][0]
        buses = ax.scatter(*xy[~gen].T, s=22, c=vm[~gen], cmap="coolwarm", vmin=vlim[0], vmax=vlim[1], zorder=3,
                           edgecolors="k", linewidths=0.3)
        ax.scatter(*xy[gen].T, s=60, marker="s", c=vm[gen], cmap="coolwarm", vmin=vlim[0], vmax=vlim[1], zorder=4,
                   edgecolors="k", linewidths=0.8)
        if note:
            ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=8, va="bottom")
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xticks([])
    ax.set_yticks([])
    return lines, buses


def _solutions(family: Any, maps: dict[str, Solver], scale: float) -> dict[str, tuple[np.ndarray | None, str]]:
    """Each map's x at the load scale, with a short note (cost, violations) or why there is none."""
    xi = scaled_loads(family, scale)
    out = {}
    for name, solve in maps.items():
        try:
            x = np.asarray(solve(xi), dtype=float).reshape(1, -1)
        except (ValueError, RuntimeError) as exc:
            out[name] = (None, f"no solution:\n{str(exc)[:60]}")
            continue
        if not np.all(np.isfinite(x)):
            out[name] = (None, "no solution (infeasible?)")
            continue
        cost = float(family.objective(x, xi)[0])
        eq = float(np.abs(family.eq_residual(x, xi)).max())
        ineq = float(np.maximum(family.ineq_residual(x, xi), 0).max())
        out[name] = (x[0], f"{cost:,.0f} $/h   max |h| {eq:.0e}   max g+ {ineq:.0e} p.u.")
    return out


def draw_panels(fig: Any, family: Any, maps: dict[str, Solver], scale: float, *, flow_max: float | None = None) -> None:
    """One panel per solution map at the load scale, with shared colour bars."""
    sols = _solutions(family, maps, scale)
    n = len(maps)
    grid = fig.subplots(1, n + 2, squeeze=False, gridspec_kw={"width_ratios": [1.0] * n + [0.04, 0.04]})[0]
    axes, bars = grid[:n], grid[n:]
    if flow_max is None:
        flows = [family.loading(x[None, :])[0].max() for x, _ in sols.values() if x is not None]
        flow_max = max(flows) if flows else 1.0
    mappables = None
    for ax, (name, (x, note)) in zip(axes, sols.items()):
        m = draw_network(ax, family, x, title=name, flow_max=flow_max, note=note)
        if x is not None:
            mappables = m
    if mappables is not None:
        fig.colorbar(mappables[0], cax=bars[0], label="branch flow |S| (MVA)")
        fig.colorbar(mappables[1], cax=bars[1], label="Vm (p.u.)")
    else:
        for ax in bars:
            ax.set_axis_off()
    fig.suptitle(f"{family.net.case}: every load at {scale:.2f} × nominal", fontsize=10)


class NetworkViewer:
    """The live widget: a slider over the load scale; ``.update(scale)`` redraws and returns the seconds taken."""

    def __init__(self, family: Any, maps: dict[str, Solver], scales: tuple[float, float] = (0.6, 1.3),
                 flow_max: float | None = None):
        import ipywidgets as w

        if not maps:
            raise ValueError("view_network: give at least one solution map")
        self.family, self.maps, self.flow_max = family, maps, flow_max
        self.slider = w.FloatSlider(value=1.0, min=scales[0], max=scales[1], step=0.05, description="load ×",
                                    continuous_update=False, readout_format=".2f")
        self.out = w.Output()
        self.widget = w.VBox([self.slider, self.out])
        self.slider.observe(lambda change: self.update(change["new"]), names="value")
        self.update(self.slider.value)

    def update(self, scale: float | None = None) -> float:
        s = self.slider.value if scale is None else float(scale)
        return redraw(self.out, (5.0 * len(self.maps) + 1.5, 4.6),
                      lambda fig: draw_panels(fig, self.family, self.maps, s, flow_max=self.flow_max))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def view_network(family: Any, maps: dict[str, Solver], **kwargs: Any) -> NetworkViewer:
    """The network viewer as a live widget (needs a kernel)."""
    return NetworkViewer(family, maps, **kwargs)


def network_static(family: Any, maps: dict[str, Solver], scales: Sequence[float], *,
                   title: str = "the network over the load scale (static)", flow_max: float | None = None,
                   progress: bool = True) -> StaticSlider:
    """The viewer's picture at each load scale in ``scales``, as a slider that needs no kernel."""
    if not maps:
        raise ValueError("network_static: give at least one solution map")

    def draw(scale: float):
        fig = plt.figure(figsize=(5.0 * len(maps) + 1.5, 4.6))
        draw_panels(fig, family, maps, scale, flow_max=flow_max)
        return fig

    return StaticSlider.render(draw, [("load ×", [float(s) for s in scales])], title=title, progress=progress,
                               fmt=lambda v: f"{v:.2f}")
