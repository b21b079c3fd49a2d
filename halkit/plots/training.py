"""Training histories (``halkit.training``'s per-epoch dicts) as curves and as a table."""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from .bench import colour, ratio
from .figure import Figure, subplots
from .table import Table
from .units import duration


def training_figure(histories: dict[str, list[dict]], epochs: int | None = None) -> Figure:
    """Train loss (log), test accuracy and median epoch time, one line or bar per variant."""
    fig, (ax_loss, ax_acc, ax_time) = subplots(1, 3, figsize=(11, 3.3))
    for i, (name, history) in enumerate(histories.items()):
        epochs_done = [h["epoch"] for h in history]
        style = dict(color=colour(name, i), marker=".", lw=1.5, ls=("-", "--", ":")[i % 3], label=name)
        ax_loss.plot(epochs_done, [h["loss"] for h in history], **style)
        ax_acc.plot(epochs_done, [100 * h["test_accuracy"] for h in history], **style)
        median_epoch = np.median([h["epoch_s"] for h in history]) * 1e3 if history else 0
        ax_time.bar(i, median_epoch, color=colour(name, i))
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


def training_table(histories: dict[str, list[dict]], reference: str | None = None) -> Table:
    """Per variant: epochs, last loss, test accuracy, median epoch and step time, the step times' spread.

    With ``reference`` (e.g. ``"torch"``), a "step × reference" column gives each variant's speed-up over it:
    median step time over median step time, the epochs being the rounds of one interleaved run (the variants
    train epoch by epoch in turn), marked ``~`` when ``halkit.bench`` finds it within the noise.
    """
    from halkit.bench import Timing

    steps = {v: Timing(tuple(h["step_s"] for h in history), 1) for v, history in histories.items() if history}
    rows = []
    for variant, history in histories.items():
        if not history:
            continue
        last, step = history[-1], steps[variant]
        row = [variant, last["epoch"], f"{last['loss']:.4f}", f"{100 * last['test_accuracy']:.1f}%",
               duration(float(np.median([h["epoch_s"] for h in history]))), duration(step.median),
               f"{step.max / step.min:.2f}"]
        if reference is not None:
            base = steps.get(reference)
            row.append("-" if base is None else ratio(base.median / step.median,
                                                      None if base is step else base.differs_from(step)))
        rows.append(row)
    columns = ["variant", "epochs", "last loss", "test accuracy", "median epoch", "median step", "step spread"]
    notes = []
    if reference is not None:
        columns.append(f"step × {reference}")
        notes.append(f"step × {reference} = speed-up over {reference} (median step time over the epochs), "
                     "~ = within the epoch-to-epoch noise; step spread = slowest epoch's step / fastest's")
    return Table(columns, rows, notes, numeric=columns[1:])
