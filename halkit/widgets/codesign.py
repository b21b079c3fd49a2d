"""The co-design explorer: sliders over DeviceSpec knobs, redrawing the MLP forward's timeline on the mock device.

The compute lives in :func:`explore` (plain, testable); the widget only wires sliders to it, so an error in a
callback can never hide a broken model.
"""
from __future__ import annotations

import numpy as np

from halkit import plots

from .common import report_errors

#: Link bandwidth offered by the explorer, as multiples of the base design's (1/16× … 64×).
LINK_SCALE = dict(base=2, min=-4, max=6, step=1)


def explore(base, x: np.ndarray, params, *, link_scale: float = 1.0, array: int | None = None,
            dataflow: str | None = None, streams: int = 2, weights_resident: bool = False, ax=None):
    """One point of the design space: run the MLP forward on ``base`` with the knobs changed, draw its timeline.

    ``base`` is a ``halkit.device.DeviceSpec``. Returns ``(run, figure)``: the forward's result (latency,
    records) and the timeline figure.
    """
    from halkit.device import Device  # the mock device loads only when the explorer is used
    from halkit.device.workloads import mlp_forward

    spec = base.replace(link_bandwidth=base.link_bandwidth * link_scale)
    if array is not None or dataflow is not None:
        current = spec.systolic.rows if spec.systolic else 32
        spec = spec.with_array(array or current, dataflow=dataflow)
    with Device(spec) as device:
        run = mlp_forward(device, x, params, streams=streams, weights_resident=weights_resident)
    array_text = (f"array {spec.systolic.rows}×{spec.systolic.cols} {spec.systolic.dataflow}, "
                  if spec.systolic else "")
    title = (f"{spec.name}: link {spec.link_bandwidth / 1e9:.2f} GB/s, {array_text}{streams} stream(s): "
             f"{run.latency * 1e6:.1f} µs")
    return run, plots.device.plot_timeline(run.records, ax=ax, title=title)


def codesign_explorer(base, x: np.ndarray, params):
    """Sliders for link bandwidth (× the base), array size, dataflow, streams and weight residency."""
    import ipywidgets as W

    wide = {"description_width": "initial"}
    link = W.FloatLogSlider(value=1.0, description="link bandwidth ×", style=wide, **LINK_SCALE)
    array = W.Dropdown(options=[8, 16, 32, 64, 128, 256], value=base.systolic.rows if base.systolic else 64,
                       description="array rows = cols", style=wide)
    dataflow = W.Dropdown(options=[("output stationary", "os"), ("weight stationary", "ws"),
                                   ("input stationary", "is")],
                          value=base.systolic.dataflow if base.systolic else "os", description="dataflow")
    streams = W.ToggleButtons(options=[1, 2], value=2, description="streams")
    resident = W.Checkbox(value=False, description="weights resident")
    status = W.HTML()
    plot = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
    plot.add_class("halkit-codesign-plot")

    def redraw(_change=None):
        _, fig = explore(base, x, params, link_scale=link.value, array=array.value, dataflow=dataflow.value,
                         streams=streams.value, weights_resident=resident.value)
        plot.value, status.value = plots.png(fig, dpi=90), ""

    for control in (link, array, dataflow, streams, resident):
        control.observe(lambda change: report_errors(redraw, status), names="value")
    redraw()
    return W.VBox([W.HBox([link, array, dataflow]), W.HBox([streams, resident]), status, plot])
