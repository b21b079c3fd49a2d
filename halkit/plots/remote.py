"""Views of the remote device's figures (rows from :mod:`halkit.remote.bench`): where an op's time goes, what
resident weights save, how close the copies come to the raw link."""
from __future__ import annotations

import numpy as np

from .figure import Figure, axes_for, readable_log_axis

#: the three parts of a remote op's latency, in the order they are stacked
PARTS = (("kernel_s", "kernel (on the server)", "#C44E52"), ("transfer_s", "transfer (the op's bytes)", "#4C72B0"),
         ("overhead_s", "RPC overhead (round trip, serialisation, threads)", "#CCB974"))


def plot_op_breakdown(rows, ax=None, title: str | None = None) -> Figure:
    """One stacked bar per op (µs): kernel + transfer + RPC overhead = its latency through the remote device."""
    ax = axes_for(ax, (9, 0.5 + 0.45 * len(rows)))
    labels = [r["op"] for r in rows]
    left = np.zeros(len(rows))
    for key, label, colour in PARTS:
        widths = np.array([r[key] * 1e6 for r in rows])
        ax.barh(labels, widths, left=left, color=colour, label=label, edgecolor="white")
        left += widths
    ax.invert_yaxis()
    ax.set_xlabel("latency per call (µs)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "one op on the remote device, host arrays in and out")
    return ax.figure


def plot_forward_variants(seconds: dict, ax=None, title: str | None = None) -> Figure:
    """Bars of seconds per forward ({variant: seconds}), with the ratio to the fastest written on each."""
    ax = axes_for(ax, (8, 0.5 + 0.45 * len(seconds)))
    names, values = list(seconds), np.array(list(seconds.values())) * 1e6
    ax.barh(names, values, color=["#55A868" if "resident" in n else "#4C72B0" for n in names])
    for y, value in enumerate(values):
        ax.text(value, y, f" {value / values.min():.1f}×", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("µs per forward")
    ax.set_title(title or "MLP forward")
    return ax.figure


def plot_copy_bandwidth(rows, ax=None, title: str | None = None) -> Figure:
    """GB/s against copy size, both directions, the remote device beside the raw socket it runs over."""
    ax = axes_for(ax, (7, 4))
    sizes = [r["bytes"] / 2**20 for r in rows]
    for key, style in (("remote h2d", "o-"), ("socket up", "o--"), ("remote d2h", "s-"), ("socket down", "s--")):
        ax.plot(sizes, [r[f"{key} GB/s"] for r in rows], style, label=key)
    readable_log_axis(ax.xaxis)
    ax.set_xlabel("copy size (MiB)")
    ax.set_ylabel("GB/s")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.set_title(title or "copies over loopback: remote device vs raw socket")
    return ax.figure
