"""Views of a device trace: a Gantt timeline per stream, a roofline, a knob sweep, and a readable table.

Records are a trace (anything with ``to_dicts()``), trace records (dataclasses) or their dicts, with the
fields of ``halkit.device``'s trace: stream, kind, name, nbytes, flops, bound, real/model start and end.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib.patches import Patch

from .figure import Figure, axes_for, readable_log_axis
from .table import Table
from .units import duration, size

KIND_COLORS = {"h2d": "#4C72B0", "d2h": "#55A868", "kernel": "#C44E52", "d2d": "#8172B2",
               "fill": "#CCB974", "host_func": "#64B5CD"}


def as_dicts(records) -> list[dict]:
    if hasattr(records, "to_dicts"):
        return records.to_dicts()
    return [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in records]


def plot_timeline(records, ax=None, clock: str = "model", title: str | None = None) -> Figure:
    """Gantt chart: one row per stream, one bar per command (µs), coloured by kind; kernels labelled."""
    rows = [r for r in as_dicts(records) if r[f"{clock}_end"] > r[f"{clock}_start"]]
    ax = axes_for(ax, (10, 2.5))
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
    # Outside the axes, right of the lanes: inside it would cover the bars.
    ax.legend(handles=[Patch(color=KIND_COLORS.get(k, "grey"), label=k) for k in kinds], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.005, 1), borderaxespad=0, frameon=False)
    ax.set_title(title or f"device timeline ({clock} time)")
    return ax.figure


def plot_roofline(spec, records, dtype: str = "float32", ax=None, title: str | None = None) -> Figure:
    """The roofline of the DeviceSpec ``spec`` with each kernel placed at (FLOP/byte, achieved FLOP/s).

    Achieved FLOP/s excludes the launch overhead (the timeline shows it), so a
    kernel lies on the roof when the model says it runs at the bound it names.
    On a device with a systolic array, GEMMs meet the array's peak, others the vector peak.
    """
    kernels = [r for r in as_dicts(records) if r["kind"] == "kernel" and r["flops"] > 0 and r["nbytes"] > 0]
    ax = axes_for(ax, (6, 4))
    intensity = np.logspace(-2, 4, 200)
    peaks = {"vector peak": spec.peak(dtype)}
    if spec.systolic is not None:
        peaks["array peak"] = spec.systolic.peak_flops
    for (label, peak), style in zip(peaks.items(), ("-", "--")):
        ax.loglog(intensity, np.minimum(peak, intensity * spec.memory_bandwidth), "k" + style, lw=1,
                  label=f"{label} {peak / 1e12:.3g} TFLOP/s")
    for r in kernels:
        body = max(r["model_end"] - r["model_start"] - spec.launch_overhead, 1e-15)
        color = "#C44E52" if r["bound"] == "compute" else "#4C72B0"
        ax.loglog(r["flops"] / r["nbytes"], r["flops"] / body, "o", color=color)
        ax.annotate(r["name"], (r["flops"] / r["nbytes"], r["flops"] / body), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("arithmetic intensity (FLOP / byte of device memory)")
    ax.set_ylabel("FLOP/s (modelled)")
    ax.set_title(title or f"roofline: {spec.name} (blue = memory bound, red = compute bound)")
    ax.legend(fontsize=7, loc="lower right")
    return ax.figure


def plot_sweep(rows: list[dict], ax=None, xlabel: str | None = None, logx: bool = True,
               title: str | None = None, value_scale: float = 1.0) -> Figure:
    """Latency (µs) against a swept knob, one line per stream count (rows from workloads.sweep).

    ``value_scale`` multiplies the knob's values for the axis, e.g. 1e-9 to draw a bandwidth in GB/s.
    """
    ax = axes_for(ax, (6, 4))
    for n in sorted({r["streams"] for r in rows}, key=str):
        points = [r for r in rows if r["streams"] == n]
        ax.plot([r["value"] * value_scale for r in points], [r["latency"] * 1e6 for r in points], "o-",
                label=f"{n} stream{'s' if n != 1 else ''}")
    if logx:
        readable_log_axis(ax.xaxis)
    ax.set_xlabel(xlabel or (rows[0]["knob"] if rows else "value"))
    ax.set_ylabel("modelled latency (µs)")
    ax.set_title(title or "MLP forward latency")
    ax.legend()
    return ax.figure


def trace_table(records, limit: int | None = None, clock: str = "model") -> Table:
    """The trace as a table a person reads: start and duration in µs/ms, bytes in kB/MB, FLOP in M/G."""
    rows = as_dicts(records)
    shown = rows[:limit] if limit is not None else rows
    origin = min((r[f"{clock}_start"] for r in rows), default=0.0)
    body = [(r["stream"], r["kind"], r["name"], duration(r[f"{clock}_start"] - origin),
             duration(r[f"{clock}_end"] - r[f"{clock}_start"]) if r[f"{clock}_end"] > r[f"{clock}_start"] else "-",
             size(r["nbytes"]) if r["nbytes"] else "-",
             _flop(r["flops"]), r["bound"] or "-", r["status"]) for r in shown]
    notes = [f"{clock} clock, start relative to the first command"
             + (f"; first {len(shown)} of {len(rows)} commands" if len(shown) < len(rows) else "")]
    columns = ("stream", "kind", "name", "start", "duration", "bytes", "FLOP", "bound", "status")
    return Table(columns, body, notes, numeric=("start", "duration", "bytes", "FLOP"))


def _flop(flops: float) -> str:
    if not flops:
        return "-"
    scale, unit = next(((s, u) for s, u in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")) if flops >= s))
    return f"{flops / scale:.3g} {unit}FLOP"
