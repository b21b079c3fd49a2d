"""halkit.plots: every figure shows itself in Jupyter, cases are grouped by dtype, units read well."""
from types import SimpleNamespace

import numpy as np
import pytest
from IPython.core.formatters import DisplayFormatter

from halkit import plots
from halkit.plots import device as device_plots

PNG = b"\x89PNG\r\n\x1a\n"


def _row(backend, dtype="float32", threads=1, median=1e-3, spread=1.1, **extra):
    m = n = k = 64
    return {"op": "matmul", "group": "custom", "m": m, "n": n, "k": k, "backend": backend, "threads": threads,
            "dtype": dtype, "median_s": median, "min_s": median / spread ** 0.5, "max_s": median * spread ** 0.5,
            "gflops": 2 * m * n * k / median / 1e9, "pct_peak": 50.0, "vs_numpy": None, "vs_torch": None, **extra}


def _command(index, stream, kind, name, start, end, nbytes=0, flops=0.0, bound=None):
    """A trace record as halkit.device's Trace.to_dicts() gives it (the real clock runs 10x the model's)."""
    return {"index": index, "stream": stream, "kind": kind, "name": name, "nbytes": nbytes, "flops": flops,
            "bound": bound, "engine": None if kind in ("record", "wait") else kind, "status": "ok",
            "real_start": 10 * start, "real_end": 10 * end, "model_start": start, "model_end": end}


@pytest.fixture(scope="module")
def mlp_run():
    """A two-stream, three-layer forward: uploads on 'copy', GEMMs on 'compute', a download, an event wait."""
    records = [_command(0, "copy", "h2d", "upload w1", 0, 20e-6, nbytes=65_536)]
    for layer in range(3):
        t = 20e-6 * (layer + 1)
        records += [_command(len(records), "copy", "h2d", f"upload w{layer + 2}", t, t + 20e-6, nbytes=65_536),
                    _command(len(records) + 1, "compute", "wait", "wait", t, t),
                    _command(len(records) + 2, "compute", "kernel", f"gemm{layer + 1}", t, t + 15e-6,
                             nbytes=70_000, flops=2 * 64 * 128 * 128, bound=("memory", "compute")[layer % 2])]
    records.append(_command(len(records), "compute", "d2h", "download", 80e-6, 82e-6, nbytes=2_560))
    spec = SimpleNamespace(name="test-npu", peak=lambda dtype: 4e12, systolic=None, memory_bandwidth=1e11,
                           launch_overhead=2e-6)
    kernels = [r for r in records if r["kind"] == "kernel"]
    return spec, SimpleNamespace(records=records, kernels=kernels), records


def _every_figure(mlp_run):
    device, run, trace = mlp_run
    rows = [_row("numpy"), _row("native", median=5e-4)]
    yield "benchmark_figure", plots.benchmark_figure(rows, peaks={(1, "float32"): {"gflops": 2.0, "source": "m"}})
    yield "training_figure", plots.training_figure(
        {"torch": [{"epoch": 1, "loss": 1.0, "test_accuracy": 0.5, "epoch_s": 0.1, "step_s": 0.01}]}, 1)
    yield "plot_timeline", device_plots.plot_timeline(trace)
    yield "plot_roofline", device_plots.plot_roofline(device, run.records)
    yield "plot_sweep", device_plots.plot_sweep([{"knob": "k", "value": v, "streams": 1, "latency": v * 1e-6}
                                                 for v in (1, 2, 4)])
    yield "plot_runs", plots.distributed.plot_runs(
        {1: {"losses": [1.0, 0.5], "per_rank": [{"rank": 0, "samples_per_s": 10.0}]}})


def test_every_figure_displays_as_png_without_pyplot(mlp_run):
    """What Jupyter does with a cell's value: ask IPython's formatters. A bare matplotlib Figure gives text only."""
    import matplotlib.figure

    formatter = DisplayFormatter()
    bare, _ = formatter.format(matplotlib.figure.Figure())
    assert "image/png" not in bare  # the bug this contract fixes
    for name, fig in _every_figure(mlp_run):
        data, _ = formatter.format(fig)
        assert isinstance(fig, plots.Figure), name
        assert data["image/png"].startswith(PNG), name


def test_a_plot_draws_on_the_axes_it_is_given(mlp_run):
    _, run, _ = mlp_run
    fig, (top, bottom) = plots.subplots(2, 1)
    assert device_plots.plot_timeline(run.records, ax=bottom) is fig
    assert len(bottom.patches) >= 3 and not top.patches


def test_device_plots_draw_every_command_and_kernel(mlp_run):
    spec, run, trace = mlp_run
    timeline = device_plots.plot_timeline(trace).axes[0]
    assert len(timeline.patches) == 8  # 4 uploads, 3 GEMMs, 1 download; the zero-length wait is not drawn
    assert [t.get_text() for t in timeline.get_yticklabels()] == ["copy", "compute"]
    assert [t.get_text() for t in timeline.get_legend().get_texts()] == ["h2d", "kernel", "d2h"]
    assert timeline.get_xlim()[1] >= 82  # µs
    assert device_plots.plot_timeline(run.records, clock="real").axes[0].get_xlim()[1] >= 820
    roofline = device_plots.plot_roofline(spec, run.records).axes[0]
    assert len(roofline.lines) == 1 + len(run.kernels)  # the roof and a point per kernel


def test_device_plots_read_a_real_device_trace():
    import halkit.device as hd
    from halkit.device.workloads import mlp_forward, mlp_parameters

    x = np.random.default_rng(0).standard_normal((8, 32)).astype(np.float32)
    with hd.Device("tpu-v1") as device:
        run = mlp_forward(device, x, mlp_parameters((32, 32, 32, 10)))
        fig = device_plots.plot_timeline(device.trace)
        roofline = device_plots.plot_roofline(device.spec, run.records)
        table = device_plots.trace_table(device.trace)
    assert len(fig.axes[0].patches) >= 7 and len(roofline.axes[0].lines) >= 2 + 3 and len(table) >= 7


def test_float32_and_float64_are_separate_cases_each_with_its_own_peak():
    rows = [_row(b, dtype=d, median=m) for d, m in (("float32", 1e-4), ("float64", 2e-4)) for b in ("numpy", "native")]
    peaks = {(1, "float32"): {"gflops": 100.0, "source": "measured"},
             (1, "float64"): {"gflops": 40.0, "source": "estimate: best GEMM"}}
    fig = plots.benchmark_figure(rows, peaks=peaks)
    rate = fig.axes[0]
    labels = [t.get_text() for t in rate.get_xticklabels()]
    assert len(labels) == 2 and "float32" in labels[0] and "float64" in labels[1]
    segments = {(round(seg[0][0]), seg[0][1]) for c in rate.collections for seg in c.get_segments()}
    assert segments == {(0, 100.0), (1, 40.0)}  # each case under its own dtype's peak
    legend = [t.get_text() for t in rate.get_legend().get_texts()]
    assert any("float64 (estimate): 40" in t for t in legend) and any("float32: 100" in t for t in legend)


def test_peaks_of_reads_one_runs_metadata():
    class Run(list):
        meta = {"dtype": "float64", "peaks": {"1": {"gflops": 3.0, "source": "x"}, "2": {"gflops": 6.0, "source": "x"}}}

    assert plots.bench.peaks_of(Run()) == {(1, "float64"): {"gflops": 3.0, "source": "x"},
                                           (2, "float64"): {"gflops": 6.0, "source": "x"}}


def test_log_axes_have_plain_tick_labels():
    rows = [_row("numpy", median=4e-4), _row("native", median=9e-4)]
    fig = plots.benchmark_figure(rows)
    fig.canvas.draw()
    latency = fig.axes[1]
    labels = [t.get_text() for t in latency.get_yticklabels() if t.get_text()]
    assert labels and all(ch not in label for label in labels for ch in "×$^"), labels
    assert "µs" in latency.get_ylabel()  # 400-900 µs is written in µs, not as 6×10⁻¹ ms


def test_benchmark_table_shows_spread_and_marks_noise():
    numpy_row = _row("numpy", spread=1.2, vs_numpy=1.0)
    native = _row("native", median=5e-4, spread=2.0, noisy=True, vs_numpy=2.0, vs_numpy_significant=False,
                  pct_peak=120.0, over_peak=True)
    table = plots.benchmark_table([numpy_row, native], peaks={})
    text = str(table)
    assert "spread" in table.columns
    by_backend = {row[3]: dict(zip(table.columns, row)) for row in table.rows}
    assert by_backend["numpy"]["spread"] == "1.20" and by_backend["native"]["spread"] == "2.00 noisy"
    assert by_backend["native"]["× numpy"] == "2.00~" and by_backend["native"]["% peak"] == "120.0!"
    assert by_backend["native"]["time/call"] == "500 µs"
    assert "not significant" in text and "<table>" in table.html()


def test_trace_table_uses_readable_units(mlp_run):
    _, run, trace = mlp_run
    table = device_plots.trace_table(trace, limit=4)
    assert len(table) == 4 and "first 4 of" in table.notes[0]
    cells = " ".join(" ".join(r) for r in table.rows)
    assert "e-0" not in cells and ("µs" in cells or "ns" in cells) and ("kB" in cells or "MB" in cells)


@pytest.mark.parametrize("seconds, text", [(9.488e-05, "94.9 µs"), (2.1e-05, "21.0 µs"), (1.5e-3, "1.50 ms"),
                                           (0.9999, "1.00 s"), (None, "-")])
def test_duration(seconds, text):
    assert plots.duration(seconds) == text


@pytest.mark.parametrize("nbytes, text", [(512, "512 B"), (2_097_152, "2.10 MB"), (999.9, "1.00 kB")])
def test_size(nbytes, text):
    assert plots.size(nbytes) == text


def test_table_rejects_a_ragged_row():
    with pytest.raises(ValueError, match="has 1 cells, the header has 2"):
        plots.Table(("a", "b"), [("x",)])


def test_comparison_rows_carry_spread_significance_and_peak():
    from halkit.bench import Timing

    timings = {"native": Timing((1.0e-3, 1.01e-3, 0.99e-3, 1.0e-3, 1.02e-3), 4),
               "numpy": Timing((2.0e-3, 2.02e-3, 1.98e-3, 2.0e-3, 2.01e-3), 4)}
    rows = plots.bench.comparison_rows(timings, op="matmul", m=64, n=64, k=64, threads=1, peak_gflops=0.5)
    native, numpy_row = rows
    assert native["vs_numpy"] == pytest.approx(2.0) and native["vs_numpy_significant"] is True
    assert numpy_row["vs_numpy"] == 1.0 and numpy_row["vs_numpy_significant"] is None
    assert native["pct_peak"] == pytest.approx(100 * 2 * 64 ** 3 / 1e-3 / 1e9 / 0.5)
    assert native["min_s"] == 0.99e-3 and native["max_s"] == 1.02e-3
    with pytest.raises(ValueError, match="reference 'torch' is not one of the timed callables"):
        plots.bench.comparison_rows(timings, op="matmul", m=1, n=1, k=1, threads=1, reference="torch")


def test_ratio_summary_counts_significant_and_noisy_ratios():
    rows = [_row("native", vs_numpy=1.5, vs_numpy_significant=True, pct_peak=60.0),
            _row("native", vs_numpy=0.98, vs_numpy_significant=False, pct_peak=40.0, noisy=True),
            _row("numpy", vs_numpy=1.0)]
    line, = plots.bench.ratio_summary(rows, "native", "numpy")
    assert line.startswith("1 thread(s): native is 0.98–1.50× numpy")
    assert "1 significantly faster, 0 significantly slower, 1 within the noise" in line
    assert "40–60 % of the peak" in line and "1 noisy" in line


def test_training_table_states_the_step_speedup_and_its_noise():
    def history(step, jitter):
        return [{"epoch": e, "loss": 1 / e, "test_accuracy": 0.9, "epoch_s": 0.1,
                 "step_s": step * (1 + jitter * (-1) ** e)} for e in range(1, 11)]

    table = plots.training_table({"torch": history(1e-3, 0.01), "fast": history(0.5e-3, 0.01),
                                  "same": history(1e-3, 0.2)}, reference="torch")
    ratio = {row[0]: row[-1] for row in table.rows}
    assert ratio == {"torch": "1.00", "fast": "2.00", "same": "1.00~"}
    assert "step spread" in table.columns and "within the epoch-to-epoch noise" in table.notes[0]
