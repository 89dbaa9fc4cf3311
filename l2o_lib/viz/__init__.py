"""Plots, widgets and their static fallbacks (numpy + matplotlib + ipywidgets; no torch or jax)."""

from l2o_lib.viz.explorer import SolutionMapExplorer, draw_solution_map, explore, explore_static
from l2o_lib.viz.iterations import IterationViewer, Trace, draw_iterations, iterations_static, view_iterations
from l2o_lib.viz.source import show_source
from l2o_lib.viz.static import StaticSlider, figure_png

__all__ = [
    "IterationViewer", "SolutionMapExplorer", "StaticSlider", "Trace", "draw_iterations", "draw_solution_map",
    "explore", "explore_static", "figure_png", "iterations_static", "show_source", "view_iterations",
]
