"""Matplotlib views of a device trace: a Gantt timeline per stream, a roofline, and a sweep plot.

Each function takes records (a Trace, TraceRecords or the dicts of
``Trace.to_dicts()``), draws on ``ax`` (a new figure if None) and returns the axes.
"""
from __future__ import annotations

import numpy as np

from .spec import DeviceSpec
from .trace import Trace, TraceRecord

KIND_COLORS = {"h2d": "#4C72B0", "d2h": "#55A868", "kernel": "#C44E52", "d2d": "#8172B2",
               "fill": "#CCB974", "host_func": "#64B5CD"}


def _as_dicts(records) -> list[dict]:
    if isinstance(records, Trace):
        return records.to_dicts()
    return [r.__dict__ if isinstance(r, TraceRecord) else dict(r) for r in records]


def _axes(ax, figsize):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_timeline(records, ax=None, clock: str = "model", title: str | None = None):
    """Gantt chart: one row per stream, one bar per command (µs), coloured by kind; kernels labelled."""
    rows = [r for r in _as_dicts(records) if r[f"{clock}_end"] > r[f"{clock}_start"]]
    ax = _axes(ax, (10, 2.5))
    streams = list(dict.fromkeys(r["stream"] for r in rows))
    origin = min((r[f"{clock}_start"] for r in rows), default=0.0)
    for r in rows:
        y = streams.index(r["stream"])
        start, width = (r[f"{clock}_start"] - origin) * 1e6, (r[f"{clock}_end"] - r[f"{clock}_start"]) * 1e6
        ax.barh(y, width, left=start, height=0.6, color=KIND_COLORS.get(r["kind"], "grey"), edgecolor="white")
        if r["kind"] == "kernel":
            ax.text(start + width / 2, y, r["name"], ha="center", va="center", fontsize=7, color="white", clip_on=True)
    ax.set_yticks(range(len(streams)), streams)
    ax.invert_yaxis()
    ax.set_xlabel(f"{clock} time (µs)")
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    ax.legend(handles=[_patch(KIND_COLORS.get(k, "grey"), k) for k in kinds], loc="upper right", fontsize=7, ncol=len(kinds))
    ax.set_title(title or f"device timeline ({clock} time)")
    return ax


def _patch(color, label):
    from matplotlib.patches import Patch
    return Patch(color=color, label=label)


def plot_roofline(spec: DeviceSpec, records, dtype: str = "float32", ax=None, title: str | None = None):
    """The roofline of ``spec`` with each kernel placed at (FLOP/byte, achieved FLOP/s).

    Achieved FLOP/s excludes the launch overhead (the timeline shows it), so a
    kernel lies on the roof when the model says it runs at the bound it names.
    On a device with a systolic array, GEMMs meet the array's peak, others the vector peak.
    """
    kernels = [r for r in _as_dicts(records) if r["kind"] == "kernel" and r["flops"] > 0 and r["nbytes"] > 0]
    ax = _axes(ax, (6, 4))
    intensity = np.logspace(-2, 4, 200)
    peaks = {"vector peak": spec.peak(dtype)}
    if spec.systolic is not None:
        peaks["array peak"] = spec.systolic.peak_flops
    for (label, peak), style in zip(peaks.items(), ("-", "--")):
        ax.loglog(intensity, np.minimum(peak, intensity * spec.memory_bandwidth), "k" + style, lw=1, label=f"{label} {peak:.3g} FLOP/s")
    for r in kernels:
        body = max(r["model_end"] - r["model_start"] - spec.launch_overhead, 1e-15)
        color = "#C44E52" if r["bound"] == "compute" else "#4C72B0"
        ax.loglog(r["flops"] / r["nbytes"], r["flops"] / body, "o", color=color)
        ax.annotate(r["name"], (r["flops"] / r["nbytes"], r["flops"] / body), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("arithmetic intensity (FLOP / byte of device memory)")
    ax.set_ylabel("FLOP/s (modelled)")
    ax.set_title(title or f"roofline: {spec.name} (blue = memory bound, red = compute bound)")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_sweep(rows: list[dict], ax=None, xlabel: str | None = None, logx: bool = True, title: str | None = None):
    """Latency (µs) against a swept knob, one line per stream count (rows from workloads.sweep)."""
    ax = _axes(ax, (6, 4))
    for n in sorted({r["streams"] for r in rows}):
        points = [r for r in rows if r["streams"] == n]
        ax.plot([r["value"] for r in points], [r["latency"] * 1e6 for r in points], "o-",
                label=f"{n} stream{'s' if n > 1 else ''}")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or (rows[0]["knob"] if rows else "value"))
    ax.set_ylabel("modelled latency (µs)")
    ax.set_title(title or "MLP forward latency")
    ax.legend()
    return ax
