"""The benchmark dashboard: GEMM shapes, backends, threads and dtype as controls over ``halkit.bench.run``."""
from __future__ import annotations

import html
import os
import time
from pathlib import Path

from halkit import bench, plots

from .common import disabled, hal_backends, report_errors

#: Sizes offered by the M/N/K sliders: powers of two plus the skinny rows of the sweep.
SIZES = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
#: The dtype menu: what ``halkit.bench.run`` times. bfloat16 (ml_dtypes) runs native against torch's bf16 GEMM;
#: numpy, which has no bf16 GEMM, is left out with a note in the status line.
DTYPES = ("float32", "float64", "bfloat16")


def _cores() -> int:
    return max(bench.default_threads())


def _case(row) -> tuple:
    return row["m"], row["n"], row["k"], row["threads"], row["dtype"]


class BenchmarkDashboard:
    """Sliders for M, N, K, backends, threads, dtype; a Run button; GFLOP/s + latency plot with the peak line.

    Every run adds its rows to ``results`` (a newer run of the same case replaces the older one), so
    the plot compares the cases tried so far; a case is (shape, threads, dtype), each with its own peak in
    ``peaks[(threads, dtype)]`` (for bfloat16: the native bf16 route's own ceiling, as the bench measures it).
    ``quick=True`` (CI) times 3 short rounds instead of 9. The compute method ``run()`` works without any
    widget interaction; the controls only call it. The plot is PNG in an ``ipywidgets.Image`` tagged
    ``halkit-bench-plot`` so a browser test can find it.
    """

    def __init__(self, m: int = 64, n: int = 512, k: int = 512, backends=None, quick: bool = False,
                 run_on_change: bool = True, export_dir: str | Path = "results", max_shapes: int = 6):
        import ipywidgets as W

        default = bench.resolve_backends(None)[0]  # numpy, native (when built), torch; others on request
        available = default + [b for b in hal_backends() if b not in default and b not in bench.DEFAULT_BACKENDS]
        self.quick, self.export_dir, self.max_shapes = quick, Path(export_dir), max_shapes
        self.results = bench.Results()
        self.peaks: dict[tuple[int, str], dict] = {}
        slider = dict(options=SIZES, continuous_update=False, style={"description_width": "70px"})
        self.m = W.SelectionSlider(value=m, description="M (rows)", **slider)
        self.n = W.SelectionSlider(value=n, description="N (cols)", **slider)
        self.k = W.SelectionSlider(value=k, description="K (inner)", **slider)
        for s in (self.m, self.n, self.k):
            s.add_class("halkit-size-slider")
        self.backends = W.SelectMultiple(options=available, value=tuple(backends or default), rows=4,
                                         description="backends")
        self.threads = W.IntSlider(value=_cores(), min=1, max=_cores(), description="threads",
                                   continuous_update=False)
        self.dtype = W.Dropdown(options=DTYPES, value="float32", description="dtype",
                                layout=W.Layout(width="200px"))
        self.dtype.add_class("halkit-dtype")
        self.auto = W.Checkbox(value=run_on_change, description="re-run when a control changes", indent=False)
        button = dict(layout=W.Layout(width="auto", flex="0 0 auto"))
        self.run_button = W.Button(description="Run", button_style="primary", icon="play", **button)
        self.export_button = W.Button(description="Export CSV", icon="download", **button)
        self.clear_button = W.Button(description="Clear", icon="trash", **button)
        self.run_button.add_class("halkit-run-button")
        self.status = W.HTML()
        self.status.add_class("halkit-bench-status")
        self.plot = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
        self.plot.add_class("halkit-bench-plot")
        self.table = W.HTML()
        self.table.add_class("halkit-bench-table")

        self.run_button.on_click(lambda _: report_errors(self.run, self.status))
        self.export_button.on_click(lambda _: report_errors(self.export, self.status))
        self.clear_button.on_click(lambda _: report_errors(self.clear, self.status))
        for control in (self.m, self.n, self.k, self.backends, self.threads, self.dtype):
            control.observe(self._changed, names="value")
        self.widget = W.VBox([
            W.HBox([W.VBox([self.m, self.n, self.k]), self.backends,
                    W.VBox([self.threads, self.dtype, self.auto])]),
            W.HBox([self.run_button, self.export_button, self.clear_button]),
            self.status, self.plot, self.table,
        ])
        self.widget.add_class("halkit-bench-dashboard")

    # --- compute (callable from plain cells) ---------------------------------
    def run(self) -> bench.Results:
        """Benchmark the selected case now; returns this run's Results and updates plot and table.

        Run, Export and Clear are disabled while it runs.
        """
        (m, n, k), threads, dtype = (self.m.value, self.n.value, self.k.value), self.threads.value, self.dtype.value
        backends = list(self.backends.value)
        self.status.value = (f"running matmul {m}×{n}×{k}, {dtype}, {threads} thread(s) on "
                             f"{html.escape(', '.join(backends) or 'no backend')} …")
        start = time.perf_counter()
        with disabled(self.run_button, self.export_button, self.clear_button):
            new = bench.run(shapes=[(m, n, k)], ops=["matmul"], backends=backends, threads=[threads], dtype=dtype,
                            quick=self.quick, progress=False, repeats=3 if self.quick else 9,
                            min_time=0.01 if self.quick else 0.05)
            self._merge(new)
            self._redraw()
        notes = "".join(f"<br><small>{html.escape(note)}</small>" for note in new.meta.get("notes", []))
        self.status.value = f"done in {time.perf_counter() - start:.1f} s{notes}"
        return new

    def export(self, path: str | Path | None = None) -> Path:
        """Write every row so far as CSV (default results/dashboard-<time>.csv); returns the path."""
        path = Path(path) if path is not None else self.export_dir / time.strftime("dashboard-%Y%m%d-%H%M%S.csv")
        self.results.to_csv(path)
        self.status.value = f"wrote {html.escape(str(path))} ({len(self.results)} rows)"
        return path

    def clear(self) -> None:
        self.results, self.peaks = bench.Results(), {}
        self.plot.value, self.table.value, self.status.value = b"", "", "cleared"

    # --- widget plumbing ----------------------------------------------------
    def _merge(self, new: bench.Results) -> None:
        def key(r):
            return r["op"], r["backend"], *_case(r)

        fresh = {key(r) for r in new}
        self.peaks.update(plots.bench.peaks_of(new))  # one peak per (threads, dtype): a float64 run keeps float32's
        meta = {k: v for k, v in new.meta.items() if k not in ("peaks", "dtype")}  # both live in self.peaks / rows
        self.results = bench.Results([r for r in self.results if key(r) not in fresh] + list(new), meta)

    def _redraw(self) -> None:
        cases = list(dict.fromkeys(_case(r) for r in self.results))
        shown = set(cases[-self.max_shapes:])
        rows = bench.Results([r for r in self.results if _case(r) in shown], self.results.meta)
        peaks = {key: peak for key, peak in self.peaks.items() if key in {(c[3], c[4]) for c in shown}}
        self.plot.value = plots.png(plots.benchmark_figure(rows, peaks=peaks), dpi=90)
        self.table.value = plots.benchmark_table(rows, peaks=peaks).html()

    def _changed(self, _change) -> None:
        if self.auto.value:
            report_errors(self.run, self.status)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def benchmark_dashboard(**kwargs) -> BenchmarkDashboard:
    """A :class:`BenchmarkDashboard`; ``quick`` defaults to $HALKIT_FAST=1 (CI)."""
    kwargs.setdefault("quick", os.environ.get("HALKIT_FAST") == "1")
    return BenchmarkDashboard(**kwargs)
