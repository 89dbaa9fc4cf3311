"""The solution-map explorer for 2-D families: sliders over ξ -> feasible set, contours, x*(ξ), π_θ(ξ).

``explore(family, maps={...})`` is the live widget; ``explore_static(...)`` the same picture over a grid
of ξ for the HTML book. Both draw with :func:`draw_solution_map`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from l2o_lib.problems.base import ProblemFamily
from l2o_lib.viz.static import StaticSlider

Map = Callable[[np.ndarray], np.ndarray]
_MARKERS = ["o", "s", "D", "^", "v", "P"]


def _require_2d(family: ProblemFamily) -> None:
    if family.n_vars != 2 or not hasattr(family, "region_mask") or not hasattr(family, "objective_grid"):
        raise ValueError(f"the explorer draws 2-D families with region_mask/objective_grid; {family.name} has "
                         f"{family.n_vars} variables")


def _checked_maps(maps: dict[str, Map] | None) -> dict[str, Map]:
    maps = dict(maps or {})
    for name, fn in maps.items():
        if not callable(fn):
            raise TypeError(f"map {name!r} must be callable ξ (batch, n_params) -> x (batch, 2)")
    return maps


def draw_solution_map(
    ax: Any,
    family: ProblemFamily,
    xi: np.ndarray,
    maps: dict[str, Map] | None = None,
    *,
    restore: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    x_star: np.ndarray | None = None,
    extent: float | None = None,
    resolution: int = 160,
) -> dict[str, np.ndarray]:
    """Draw one instance ξ (shape ``(n_params,)``): feasible set, f contours, x*(ξ) and each map's x̂.

    ``restore(x̂, ξ)`` draws the restored prediction with an arrow from x̂. Returns the points drawn.
    """
    _require_2d(family)
    xi = np.asarray(xi, dtype=float)
    family.check_params(xi[None, :], where="draw_solution_map")
    maps = _checked_maps(maps)
    half = extent or 1.1 * float(family.param_high[0])
    g = np.linspace(-half, half, resolution)
    xx, yy = np.meshgrid(g, g)
    mask = family.region_mask(xx, yy, xi)
    f = family.objective_grid(xx, yy, xi)
    ax.contour(xx, yy, np.log10(f + 1e-3), levels=14, colors="0.55", linewidths=0.6)
    ax.contourf(xx, yy, mask.astype(float), levels=[0.5, 1.5], colors=["#9ecae1"], alpha=0.45)
    points: dict[str, np.ndarray] = {}
    if x_star is None:
        sol = family.solve(xi[None, :], check_domain=False, progress=False)
        x_star = sol.x[0]
    if np.all(np.isfinite(x_star)):
        ax.plot(*x_star, marker="*", ms=16, color="gold", mec="k", ls="none", label="x*(ξ) reference", zorder=5)
        points["x*"] = x_star
    for i, (name, fn) in enumerate(maps.items()):
        x_hat = np.asarray(fn(xi[None, :]), dtype=float)[0]
        ax.plot(*x_hat, marker=_MARKERS[i % len(_MARKERS)], ms=8, ls="none", mec="k", label=name, zorder=6)
        points[name] = x_hat
        if restore is not None:
            x_res = np.asarray(restore(x_hat[None, :], xi[None, :]), dtype=float)[0]
            ax.annotate("", xy=x_res, xytext=x_hat, arrowprops={"arrowstyle": "->", "color": "C3"})
            ax.plot(*x_res, marker="x", ms=9, mew=2, color="C3", ls="none", label=f"{name}, restored", zorder=7)
            points[f"{name} restored"] = x_res
    names = ", ".join(f"{n}={v:.3g}" for n, v in zip(family.param_names, xi))
    ax.set(xlim=(-half, half), ylim=(-half, half), aspect="equal", xlabel=family.var_names[0],
           ylabel=family.var_names[1], title=f"ξ: {names}")
    ax.legend(loc="lower right", fontsize=7, framealpha=0.85)
    return points


class SolutionMapExplorer:
    """The live explorer; ``.widget`` is the ipywidgets box, ``.update(**ξ)`` redraws and returns seconds."""

    def __init__(self, family: ProblemFamily, maps: dict[str, Map] | None = None, *,
                 restore: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 xi0: Sequence[float] | None = None, steps: int = 60):
        import ipywidgets as w

        _require_2d(family)
        self.family, self.maps, self.restore = family, _checked_maps(maps), restore
        xi0 = np.asarray(xi0 if xi0 is not None else (family.param_low + family.param_high) / 2, dtype=float)
        family.check_params(xi0[None, :], where="SolutionMapExplorer xi0")
        self.sliders = {
            n: w.FloatSlider(value=float(v), min=float(lo), max=float(hi), step=float((hi - lo) / steps),
                             description=n, continuous_update=False, readout_format=".3f")
            for n, v, lo, hi in zip(family.param_names, xi0, family.param_low, family.param_high)
        }
        self.out = w.Output()
        self.info = w.HTML()
        self.widget = w.VBox([w.HBox(list(self.sliders.values())), self.out, self.info])
        for s in self.sliders.values():
            s.observe(lambda _change: self.update(), names="value")
        self.last_points: dict[str, np.ndarray] = {}
        self.update()

    def xi(self) -> np.ndarray:
        return np.array([s.value for s in self.sliders.values()], dtype=float)

    def update(self, **values: float) -> float:
        """Set sliders from ``values`` (if given), redraw, return the seconds it took."""
        for name, v in values.items():
            if name not in self.sliders:
                raise KeyError(f"no parameter {name!r}; parameters: {list(self.sliders)}")
            with self.sliders[name].hold_trait_notifications():
                self.sliders[name].value = float(v)
        t0 = time.perf_counter()
        self.out.clear_output(wait=True)
        with self.out:
            fig, ax = plt.subplots(figsize=(5.2, 5.2))
            self.last_points = draw_solution_map(ax, self.family, self.xi(), self.maps, restore=self.restore)
            plt.show()
            plt.close(fig)
        seconds = time.perf_counter() - t0
        f = {k: float(self.family.objective(v[None, :], self.xi()[None, :])[0]) for k, v in self.last_points.items()}
        self.info.value = " · ".join(f"f({k}) = {v:.4g}" for k, v in f.items()) + f" <small>({seconds * 1e3:.0f} ms)</small>"
        return seconds

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def explore(family: ProblemFamily, maps: dict[str, Map] | None = None, **kwargs: Any) -> SolutionMapExplorer:
    """The solution-map explorer as a live widget (needs a kernel)."""
    return SolutionMapExplorer(family, maps, **kwargs)


def explore_static(family: ProblemFamily, maps: dict[str, Map] | None = None, *,
                   restore: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                   grid: Sequence[int] = (7, 5), title: str = "solution-map explorer (static)") -> StaticSlider:
    """The explorer's picture over a grid of ξ, as sliders that work in the HTML book."""
    _require_2d(family)
    if len(grid) != family.n_params:
        raise ValueError(f"grid needs one size per parameter {family.param_names}, got {tuple(grid)}")
    axes = [(n, np.linspace(lo, hi, k)) for n, lo, hi, k in zip(family.param_names, family.param_low,
                                                                  family.param_high, grid)]
    xis = np.array(np.meshgrid(*[v for _, v in axes], indexing="ij")).reshape(family.n_params, -1).T
    ref = family.solve(xis, progress=False)
    lookup = {tuple(np.round(x, 12)): s for x, s in zip(xis, ref.x)}

    def draw(*values: float):
        fig, ax = plt.subplots(figsize=(4.8, 4.8))
        xi = np.array(values, dtype=float)
        draw_solution_map(ax, family, xi, maps, restore=restore, x_star=lookup[tuple(np.round(xi, 12))])
        return fig

    return StaticSlider.render(draw, [(n, list(map(float, v))) for n, v in axes], title=title)
