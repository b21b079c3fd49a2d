"""The training dashboard: several variants of the digits MLP trained side by side, live curves and progress."""
from __future__ import annotations

from halkit import plots, training

from .common import disabled, hal_backends, report_errors


class TrainingDashboard:
    """Train the digits MLP for several variants at once: live loss/accuracy curves, progress, epoch times.

    ``train()`` works without any widget interaction (the Train button only calls it, and is disabled while
    it runs); ``show(histories)`` draws a run done in a plain cell.
    """

    def __init__(self, data: training.Digits, variants=(training.TORCH, "native"), epochs: int = 20,
                 **trainer_kwargs):
        import ipywidgets as W

        options = [training.TORCH] + hal_backends()
        self.data, self.trainer_kwargs = data, trainer_kwargs
        self.variants = W.SelectMultiple(options=options, value=tuple(v for v in variants if v in options),
                                         rows=4, description="variants")
        self.epochs = W.IntSlider(value=epochs, min=1, max=100, description="epochs")
        self.train_button = W.Button(description="Train", button_style="primary", icon="play",
                                     layout=W.Layout(width="auto"))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="epochs", bar_style="info")
        self.status = W.HTML()
        self.plot = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
        self.plot.add_class("halkit-train-plot")
        self.table = W.HTML()
        self.train_button.on_click(lambda _: report_errors(self.train, self.status, on_error=self._failed))
        self.widget = W.VBox([W.HBox([self.variants, W.VBox([self.epochs, self.train_button])]),
                              W.HBox([self.progress, self.status]), self.plot, self.table])
        self.histories: dict[str, list[dict]] = {}

    def train(self) -> dict[str, training.Trainer]:
        """Train the selected variants from scratch, interleaving epochs; curves update after every round."""
        variants, epochs = list(self.variants.value), self.epochs.value
        self.histories = {v: [] for v in variants}
        self.progress.max, self.progress.value, self.progress.bar_style = epochs * len(variants), 0, "info"

        def on_epoch(stats):
            self.histories[stats["variant"]].append(stats)
            self.progress.value += 1
            if stats["variant"] == variants[-1]:  # one redraw per round of epochs, not per variant
                self.show(self.histories, epochs)

        with disabled(self.train_button):
            trainers = training.train_side_by_side(variants, self.data, epochs, on_epoch=on_epoch,
                                                   **self.trainer_kwargs)
        self.progress.bar_style = "success"
        return trainers

    def show(self, histories: dict[str, list[dict]], epochs: int | None = None) -> None:
        """Draw ``histories`` (e.g. from a training run done in a plain cell)."""
        self.histories = histories
        self.plot.value = plots.png(plots.training_figure(histories, epochs), dpi=90)
        reference = training.TORCH if training.TORCH in histories else None
        self.table.value = plots.training_table(histories, reference=reference).html()
        self.status.value = " · ".join(f"{v}: epoch {h[-1]['epoch']}, acc {100 * h[-1]['test_accuracy']:.1f}%"
                                       for v, h in histories.items() if h)

    def _failed(self) -> None:
        self.progress.bar_style = "danger"

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def training_dashboard(data: training.Digits, **kwargs) -> TrainingDashboard:
    return TrainingDashboard(data, **kwargs)
