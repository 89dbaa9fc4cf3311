"""Plots, widgets and their static fallbacks (numpy + matplotlib + ipywidgets; no torch or jax)."""

from l2o_lib.viz.explorer import SolutionMapExplorer, draw_solution_map, explore, explore_static
from l2o_lib.viz.iterations import IterationViewer, Trace, draw_iterations, iterations_static, view_iterations
from l2o_lib.viz.source import show_source
from l2o_lib.viz.static import StaticSlider, figure_png
from l2o_lib.viz.trajectories import (
    TrajectoryViewer,
    draw_scene,
    draw_trajectories,
    outcome_map,
    trajectories_static,
    view_trajectories,
)

__all__ = [
    "IterationViewer", "SolutionMapExplorer", "StaticSlider", "Trace", "TrajectoryViewer", "draw_iterations",
    "draw_scene", "draw_solution_map", "draw_trajectories", "explore", "explore_static", "figure_png", "iterations_static",
    "outcome_map", "show_source", "trajectories_static", "view_iterations", "view_trajectories",
]
