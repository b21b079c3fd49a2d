"""An ipywidgets co-design explorer: sliders over DeviceSpec knobs, redrawing the MLP-forward timeline and latency.

The compute lives in :func:`explore` (plain, testable); the widget only wires
sliders to it, so an error in a callback can never hide a broken model.
"""
from __future__ import annotations

import numpy as np

from . import plots
from .device import Device
from .spec import DeviceSpec
from .workloads import mlp_forward


def explore(base: DeviceSpec, x: np.ndarray, params, *, link_scale: float = 1.0, array: int | None = None,
            dataflow: str | None = None, streams: int = 2, weights_resident: bool = False, ax=None):
    """One point of the design space: run the MLP forward on ``base`` with the knobs changed, draw its timeline."""
    spec = base.replace(link_bandwidth=base.link_bandwidth * link_scale)
    if array is not None or dataflow is not None:
        current = spec.systolic.rows if spec.systolic else 32
        spec = spec.with_array(array or current, dataflow=dataflow)
    with Device(spec) as device:
        run = mlp_forward(device, x, params, streams=streams, weights_resident=weights_resident)
    title = (f"{spec.name}: link {spec.link_bandwidth / 1e9:.2f} GB/s, "
             f"array {spec.systolic.rows}×{spec.systolic.cols} {spec.systolic.dataflow}, " if spec.systolic else
             f"{spec.name}: link {spec.link_bandwidth / 1e9:.2f} GB/s, ") + f"{streams} stream(s): {run.latency * 1e6:.1f} µs"
    plots.plot_timeline(run.records, ax=ax, title=title)
    return run


def codesign_explorer(base: DeviceSpec, x: np.ndarray, params):
    """Sliders for link bandwidth (× the base), array size, dataflow, streams and weight residency."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    link = widgets.FloatLogSlider(value=1.0, base=2, min=-4, max=6, step=1, description="link ×")
    array = widgets.Dropdown(options=[8, 16, 32, 64, 128, 256], value=base.systolic.rows if base.systolic else 64,
                             description="array")
    dataflow = widgets.Dropdown(options=["os", "ws", "is"], value=base.systolic.dataflow if base.systolic else "os",
                                description="dataflow")
    streams = widgets.ToggleButtons(options=[1, 2], value=2, description="streams")
    resident = widgets.Checkbox(value=False, description="weights resident")
    out = widgets.Output()

    def redraw(_change=None):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(10, 2.5))
            explore(base, x, params, link_scale=link.value, array=array.value, dataflow=dataflow.value,
                    streams=streams.value, weights_resident=resident.value, ax=ax)
            plt.show()

    for w in (link, array, dataflow, streams, resident):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([link, array, dataflow]), widgets.HBox([streams, resident]), out])
