"""ipywidgets dashboards over halkit.bench, halkit.training and the mock device, reused by the notebooks.

Each dashboard is an object whose compute method (``run()``, ``train()``, :func:`explore`) works without any
widget interaction, so a notebook calls it in a plain cell and asserts on the result; the controls only call
the same method, and the action buttons are disabled while it runs. Plots are :mod:`halkit.plots` figures
rendered to PNG into an ``ipywidgets.Image`` (no ipympl), tagged with a CSS class (``halkit-bench-plot``,
``halkit-train-plot``, ``halkit-codesign-plot``) so a browser test can find them.
"""
from .benchmark import SIZES, BenchmarkDashboard, benchmark_dashboard
from .codesign import codesign_explorer, explore
from .training import TrainingDashboard, training_dashboard

__all__ = ["SIZES", "BenchmarkDashboard", "TrainingDashboard", "benchmark_dashboard", "codesign_explorer",
           "explore", "training_dashboard"]
