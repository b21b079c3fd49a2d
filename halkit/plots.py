"""Matplotlib figures for benchmark results and training histories (the device team's plots live in halkit.device.plots).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so the
dashboards can render them to PNG for an ``ipywidgets.Image`` without a GUI
backend or ipympl, and notebooks can display them directly.
"""
from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: One colour per backend/variant, stable across figures.
COLOURS = {"numpy": "tab:blue", "native": "tab:orange", "torch": "tab:green", "mock": "tab:purple"}


def _colour(name: str, i: int) -> str:
    return COLOURS.get(name, f"C{(i + 4) % 10}")


def benchmark_figure(results, title: str | None = None) -> Figure:
    """GFLOP/s (with the machine's peak line) and latency per shape, one bar per backend."""
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    ax_rate, ax_time = fig.subplots(1, 2)
    keys = list(dict.fromkeys((r["op"], r["m"], r["n"], r["k"], r["threads"]) for r in results))
    backends = list(dict.fromkeys(r["backend"] for r in results))
    x = np.arange(len(keys))
    width = 0.8 / max(len(backends), 1)
    for i, backend in enumerate(backends):
        by_key = {(r["op"], r["m"], r["n"], r["k"], r["threads"]): r for r in results if r["backend"] == backend}
        rate = [by_key[k]["gflops"] if k in by_key else np.nan for k in keys]
        latency = [by_key[k]["median_s"] * 1e3 if k in by_key else np.nan for k in keys]
        offset = x + (i - (len(backends) - 1) / 2) * width
        ax_rate.bar(offset, rate, width, label=backend, color=_colour(backend, i))
        ax_time.bar(offset, latency, width, label=backend, color=_colour(backend, i))
    labels = [f"{op}\n{m}x{n}x{k}\n{t} thr" for op, m, n, k, t in keys]
    for ax in (ax_rate, ax_time):
        ax.set_xticks(x, labels, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    peaks = getattr(results, "meta", {}).get("peaks", {})
    for j, (threads, peak) in enumerate(sorted(peaks.items())):
        estimate = " (estimate)" if peak["source"].startswith("estimate") else ""
        ax_rate.axhline(peak["gflops"], color="k", ls=("--", ":")[j % 2], lw=1,
                        label=f"peak {threads} thr{estimate}: {peak['gflops']:.0f}")
    ax_rate.set_ylabel("GFLOP/s (2·M·N·K / median time)")
    ax_time.set_ylabel("median time per call (ms)")
    ax_time.set_yscale("log")
    ax_rate.legend(fontsize=8)
    ax_rate.set_title("throughput")
    ax_time.set_title("latency")
    if title:
        fig.suptitle(title)
    return fig


def training_figure(histories: dict[str, list[dict]], epochs: int | None = None) -> Figure:
    """Train loss (log), test accuracy and per-epoch time, one line or bar per variant."""
    fig = Figure(figsize=(11, 3.3), layout="constrained")
    ax_loss, ax_acc, ax_time = fig.subplots(1, 3)
    for i, (name, history) in enumerate(histories.items()):
        epochs_done = [h["epoch"] for h in history]
        style = dict(color=_colour(name, i), marker=".", lw=1.5, ls=("-", "--", ":")[i % 3], label=name)
        ax_loss.plot(epochs_done, [h["loss"] for h in history], **style)
        ax_acc.plot(epochs_done, [100 * h["test_accuracy"] for h in history], **style)
        median_epoch = np.median([h["epoch_s"] for h in history]) * 1e3 if history else 0
        ax_time.bar(i, median_epoch, color=_colour(name, i))
    ax_loss.set_yscale("log")
    ax_loss.set_title("train loss")
    ax_acc.set_title("test accuracy (%)")
    ax_acc.axhline(95, color="k", lw=0.8, ls=":")
    ax_time.set_title("median epoch time (ms)")
    ax_time.set_xticks(range(len(histories)), list(histories))
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if epochs:
            ax.set_xlim(0.5, epochs + 0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes (for ipywidgets.Image or a file under docs/)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
