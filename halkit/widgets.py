"""ipywidgets dashboards over halkit.bench and halkit.training, reused by the notebooks.

Each dashboard is an object whose compute method (``run()``, ``train()``) works
without any widget interaction, so a notebook calls it in a plain cell and
asserts on the result; the controls only call the same method. Plots are
matplotlib figures rendered to PNG into an ``ipywidgets.Image`` (no ipympl),
tagged with a CSS class (``halkit-bench-plot``, ``halkit-train-plot``) so a
browser test can find them.
"""
from __future__ import annotations

import html
import os
import time
import traceback
from pathlib import Path

from . import bench, plots, training

#: Sizes offered by the M/N/K sliders: powers of two plus the skinny rows of the sweep.
SIZES = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def _cores() -> int:
    return max(bench.default_threads())


class BenchmarkDashboard:
    """Sliders for M, N, K, backends, threads, dtype; a Run button; GFLOP/s + latency plot with the peak line.

    Every run adds its rows to ``results`` (a newer run of the same case replaces the older one), so
    the plot compares the shapes tried so far. ``quick=True`` (CI) times 3 short rounds instead of 9.
    """

    def __init__(self, m: int = 64, n: int = 512, k: int = 512, backends=None, quick: bool = False,
                 run_on_change: bool = True, export_dir: str | Path = "results", max_shapes: int = 6):
        import ipywidgets as W

        available = bench.resolve_backends(None)[0] + [b for b in _hal_backends() if b not in bench.DEFAULT_BACKENDS]
        self.quick, self.export_dir, self.max_shapes = quick, Path(export_dir), max_shapes
        self.results = bench.Results()
        slider = dict(options=SIZES, continuous_update=False, style={"description_width": "70px"})
        self.m = W.SelectionSlider(value=m, description="M (rows)", **slider)
        self.n = W.SelectionSlider(value=n, description="N (cols)", **slider)
        self.k = W.SelectionSlider(value=k, description="K (inner)", **slider)
        for s in (self.m, self.n, self.k):
            s.add_class("halkit-size-slider")
        default = bench.resolve_backends(None)[0]  # numpy, native (when built), torch; others on request
        self.backends = W.SelectMultiple(options=available, value=tuple(backends or default), rows=4,
                                         description="backends")
        self.threads = W.IntSlider(value=_cores(), min=1, max=_cores(), description="threads",
                                   continuous_update=False)
        self.dtype = W.Dropdown(options=["float32", "float64"], value="float32", description="dtype")
        self.auto = W.Checkbox(value=run_on_change, description="re-run when a control changes", indent=False)
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.export_button = W.Button(description="Export CSV", icon="download")
        self.clear_button = W.Button(description="Clear", icon="trash")
        self.status = W.HTML()
        self.plot = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
        self.plot.add_class("halkit-bench-plot")
        self.table = W.HTML()
        self.table.add_class("halkit-bench-table")

        self.run_button.on_click(lambda _: self._safely(self.run))
        self.export_button.on_click(lambda _: self._safely(self.export))
        self.clear_button.on_click(lambda _: self._safely(self.clear))
        for control in (self.m, self.n, self.k, self.backends, self.threads, self.dtype):
            control.observe(self._changed, names="value")
        self.widget = W.VBox([
            W.HBox([W.VBox([self.m, self.n, self.k]), self.backends,
                    W.VBox([self.threads, self.dtype, self.auto])]),
            W.HBox([self.run_button, self.export_button, self.clear_button, self.status]),
            self.plot, self.table,
        ])
        self.widget.add_class("halkit-bench-dashboard")

    # --- compute (callable from plain cells) ---------------------------------
    def run(self) -> bench.Results:
        """Benchmark the selected shape now; returns this run's Results and updates plot and table."""
        shape = (self.m.value, self.n.value, self.k.value)
        self.status.value = f"running matmul {shape[0]}x{shape[1]}x{shape[2]} ..."
        start = time.perf_counter()
        new = bench.run(shapes=[shape], ops=["matmul"], backends=list(self.backends.value),
                        threads=[self.threads.value], dtype=self.dtype.value, quick=self.quick, progress=False,
                        repeats=3 if self.quick else 9, min_time=0.01 if self.quick else 0.05)
        self._merge(new)
        self._redraw()
        notes = "; ".join(new.meta.get("notes", []))
        self.status.value = f"done in {time.perf_counter() - start:.1f} s" + (f" — {html.escape(notes)}" if notes else "")
        return new

    def export(self, path: str | Path | None = None) -> Path:
        """Write every row so far as CSV (default results/dashboard-<time>.csv); returns the path."""
        path = Path(path) if path is not None else self.export_dir / time.strftime("dashboard-%Y%m%d-%H%M%S.csv")
        self.results.to_csv(path)
        self.status.value = f"wrote {html.escape(str(path))} ({len(self.results)} rows)"
        return path

    def clear(self) -> None:
        self.results = bench.Results()
        self.plot.value, self.table.value, self.status.value = b"", "", "cleared"

    # --- widget plumbing ----------------------------------------------------
    def _merge(self, new: bench.Results) -> None:
        def key(r):
            return r["op"], r["m"], r["n"], r["k"], r["threads"], r["dtype"], r["backend"]

        fresh = {key(r) for r in new}
        meta = {**self.results.meta, **new.meta, "peaks": {**self.results.meta.get("peaks", {}), **new.meta["peaks"]}}
        self.results = bench.Results([r for r in self.results if key(r) not in fresh] + list(new), meta)

    def _redraw(self) -> None:
        cases = list(dict.fromkeys((r["m"], r["n"], r["k"], r["threads"], r["dtype"]) for r in self.results))
        shown = set(cases[-self.max_shapes:])
        rows = bench.Results([r for r in self.results if (r["m"], r["n"], r["k"], r["threads"], r["dtype"]) in shown],
                             self.results.meta)
        self.plot.value = plots.png(plots.benchmark_figure(rows))
        self.table.value = _html_table(rows)

    def _changed(self, _change) -> None:
        if self.auto.value:
            self._safely(self.run)

    def _safely(self, action) -> None:
        """Run a callback's action, showing an error in the status line instead of losing it in the kernel log."""
        try:
            action()
        except Exception as exc:  # a dashboard must survive a bad input; the message says what went wrong
            self.status.value = f"<span style='color:#b00'>{html.escape(f'{type(exc).__name__}: {exc}')}</span>"
            traceback.print_exc()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class TrainingDashboard:
    """Train the digits MLP for several variants at once: live loss/accuracy curves, progress, epoch times."""

    def __init__(self, data: training.Digits, variants=(training.TORCH, "native"), epochs: int = 20,
                 **trainer_kwargs):
        import ipywidgets as W

        options = [training.TORCH] + _hal_backends()
        self.data, self.trainer_kwargs = data, trainer_kwargs
        self.variants = W.SelectMultiple(options=options, value=tuple(v for v in variants if v in options),
                                         rows=4, description="variants")
        self.epochs = W.IntSlider(value=epochs, min=1, max=100, description="epochs")
        self.train_button = W.Button(description="Train", button_style="primary", icon="play")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="epochs", bar_style="info")
        self.status = W.HTML()
        self.plot = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
        self.plot.add_class("halkit-train-plot")
        self.table = W.HTML()
        self.train_button.on_click(lambda _: self._safely(self.train))
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

        trainers = training.train_side_by_side(variants, self.data, epochs, on_epoch=on_epoch, **self.trainer_kwargs)
        self.progress.bar_style = "success"
        return trainers

    def show(self, histories: dict[str, list[dict]], epochs: int | None = None) -> None:
        """Draw ``histories`` (e.g. from a training run done in a plain cell)."""
        self.histories = histories
        self.plot.value = plots.png(plots.training_figure(histories, epochs))
        self.table.value = _training_table(histories)
        self.status.value = " · ".join(f"{v}: epoch {h[-1]['epoch']}, acc {100 * h[-1]['test_accuracy']:.1f}%"
                                       for v, h in histories.items() if h)

    def _safely(self, action) -> None:
        try:
            action()
        except Exception as exc:
            self.progress.bar_style = "danger"
            self.status.value = f"<span style='color:#b00'>{html.escape(f'{type(exc).__name__}: {exc}')}</span>"
            traceback.print_exc()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _hal_backends() -> list[str]:
    from halkit import hal

    return hal.backends()


def _html_table(rows) -> str:
    head = ("shape MxNxK", "threads", "dtype", "backend", "time/call", "GFLOP/s", "% peak", "× numpy", "× torch")
    body = []
    for r in rows:
        cells = (f"{r['m']}x{r['n']}x{r['k']}", r["threads"], r["dtype"], r["backend"],
                 f"{r['median_s'] * 1e3:.3f} ms", f"{r['gflops']:.2f}", _fmt(r.get("pct_peak"), ".1f"),
                 _fmt(r.get("vs_numpy"), ".2f"), _fmt(r.get("vs_torch"), ".2f"))
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    peaks = "; ".join(f"peak at {t} thread(s): {p['gflops']:.1f} GFLOP/s ({html.escape(p['source'])})"
                      for t, p in rows.meta.get("peaks", {}).items())
    return (f"<p style='font-size:90%'>{peaks}</p><table><tr>" + "".join(f"<th>{h}</th>" for h in head)
            + "</tr>" + "".join(body) + "</table>")


def _training_table(histories) -> str:
    head = ("variant", "epochs", "last loss", "test accuracy", "median epoch", "median step")
    body = []
    for v, h in histories.items():
        if not h:
            continue
        last = h[-1]
        med = sorted(x["epoch_s"] for x in h)[len(h) // 2]
        step = sorted(x["step_s"] for x in h)[len(h) // 2]
        cells = (v, last["epoch"], f"{last['loss']:.4f}", f"{100 * last['test_accuracy']:.1f}%",
                 f"{med * 1e3:.1f} ms", f"{step * 1e3:.2f} ms")
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(body) + "</table>"


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def benchmark_dashboard(**kwargs) -> BenchmarkDashboard:
    """A :class:`BenchmarkDashboard`; ``quick`` defaults to $HALKIT_FAST=1 (CI)."""
    kwargs.setdefault("quick", os.environ.get("HALKIT_FAST") == "1")
    return BenchmarkDashboard(**kwargs)


def training_dashboard(data: training.Digits, **kwargs) -> TrainingDashboard:
    return TrainingDashboard(data, **kwargs)
