"""Distributed runs (``halkit.distributed.experiments``): loss curves and per-rank throughput."""
from __future__ import annotations

from .figure import Figure, subplots


def plot_runs(runs: dict[int, dict]) -> Figure:
    """Left: loss per step for each worker count. Right: samples/s of every rank."""
    fig, (loss_ax, speed_ax) = subplots(1, 2, figsize=(11, 4))
    for workers, metrics in sorted(runs.items()):
        style = "-" if workers == min(runs) else "--"  # dashed over solid: overlap shows
        loss_ax.plot(metrics["losses"], style, label=f"{workers} worker(s)")
    loss_ax.set(xlabel="step", ylabel="training loss (MSE)", title="Same global batch, same curve")
    loss_ax.legend()

    labels, speeds, colors = [], [], []
    for run_index, (workers, metrics) in enumerate(sorted(runs.items())):
        for rank in metrics["per_rank"]:
            labels.append(f"{workers}w · rank {rank['rank']}")
            speeds.append(rank["samples_per_s"])
            colors.append(f"C{run_index}")  # one colour per run
    speed_ax.bar(labels, speeds, color=colors)
    speed_ax.set(ylabel="samples / s (per rank)", title="Per-rank throughput")
    speed_ax.tick_params(axis="x", rotation=30)
    return fig
