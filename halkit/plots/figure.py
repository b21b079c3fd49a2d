"""The one way halkit draws: figures that show themselves in Jupyter, without pyplot's global state.

Every plotting function in :mod:`halkit.plots` follows one contract:

* it draws on ``ax`` when one is given (the caller owns the layout, e.g. a grid from :func:`subplots`),
  otherwise on a new figure of its own;
* it returns the :class:`Figure` that holds the drawing.

A :class:`Figure` renders as a PNG wherever IPython shows a value — the last expression of a cell,
``display(fig)``, the result of ``ipywidgets.interact`` — whether or not ``%matplotlib inline`` (pyplot's
machinery) is active, and it is never registered with pyplot: a dashboard's figure cannot leak into a
cell's output and figures do not pile up in pyplot's registry. A bare ``matplotlib.figure.Figure``
has no such representation: Jupyter shows it as the text ``<Figure size 1100x380 with 2 Axes>``.
"""
from __future__ import annotations

import io

import matplotlib.figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

#: Resolution of the PNGs shown in notebooks and dashboards (matplotlib's default is 100 as well).
DPI = 100


class Figure(matplotlib.figure.Figure):
    """A matplotlib Figure that IPython displays as PNG (``_repr_png_``), pyplot or not."""

    def _repr_png_(self) -> bytes:
        return png(self)


def subplots(nrows: int = 1, ncols: int = 1, figsize=(6.4, 4), **kwargs):
    """``(figure, axes)`` like ``pyplot.subplots``, but a self-displaying :class:`Figure` outside pyplot."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kwargs)


def axes_for(ax, figsize):
    """The axes to draw on: ``ax`` itself, or the single axes of a new :class:`Figure`."""
    return ax if ax is not None else subplots(figsize=figsize)[1]


def png(fig: matplotlib.figure.Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes (for ``ipywidgets.Image``, a file under docs/, or Jupyter)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def readable_log_axis(axis) -> None:
    """Log scale with ticks at 1, 2, 5 × 10ⁿ written as plain numbers (0.5, 2, 50), not as 6×10⁻¹."""
    axis.axes.set(**{f"{axis.axis_name}scale": "log"})
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())
