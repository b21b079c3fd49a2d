"""The dashboards' compute, driven headless (no browser): runs, merges, dtype cases, busy state, errors, training."""
import numpy as np
import pytest

import halkit.device as hd
from halkit import bench, training, widgets
from halkit.device.workloads import mlp_parameters
from halkit.widgets import benchmark as benchmark_module


@pytest.fixture
def dashboard(tmp_path):
    d = widgets.benchmark_dashboard(m=8, n=16, k=16, backends=["numpy", "torch"], quick=True,
                                    run_on_change=False, export_dir=tmp_path)
    d.threads.value = 1
    return d


def test_run_fills_plot_and_table(dashboard):
    results = dashboard.run()
    assert {r["backend"] for r in results} == {"numpy", "torch"}
    assert bytes(dashboard.plot.value[:4]) == b"\x89PNG"
    assert "<table>" in dashboard.table.value and "8×16×16" in dashboard.table.value
    assert "spread" in dashboard.table.value
    assert "done" in dashboard.status.value


def test_runs_accumulate_and_a_rerun_replaces_its_rows(dashboard):
    dashboard.run()
    dashboard.m.value = 32
    dashboard.run()
    dashboard.run()
    shapes = [(r["m"], r["backend"]) for r in dashboard.results]
    assert sorted(shapes) == [(8, "numpy"), (8, "torch"), (32, "numpy"), (32, "torch")]


def test_float64_is_a_case_of_its_own_and_keeps_the_float32_peak(dashboard):
    dashboard.run()
    float32_peak = dashboard.peaks[(1, "float32")]
    dashboard.dtype.value = "float64"
    dashboard.run()
    assert sorted((r["dtype"], r["backend"]) for r in dashboard.results) == [
        ("float32", "numpy"), ("float32", "torch"), ("float64", "numpy"), ("float64", "torch")]
    assert set(dashboard.peaks) == {(1, "float32"), (1, "float64")}
    assert dashboard.peaks[(1, "float32")] == float32_peak  # not replaced by the float64 run's peak
    assert "float32: " in dashboard.table.value and "float64: " in dashboard.table.value  # one peak line each


def test_bfloat16_is_offered_runs_without_numpy_and_gets_its_own_peak(dashboard):
    assert list(dashboard.dtype.options) == ["float32", "float64", "bfloat16"]
    dashboard.run()
    dashboard.dtype.value = "bfloat16"
    if "native" in dashboard.backends.options:  # the backend that multiplies bf16, when built
        dashboard.backends.value = ("numpy", "native", "torch")
    new = dashboard.run()
    want = {"native", "torch"} & set(dashboard.backends.value)
    assert {(r["dtype"], r["backend"]) for r in new} == {("bfloat16", b) for b in want}  # numpy left out...
    assert "numpy skipped for bfloat16" in dashboard.status.value  # ...saying why
    assert set(dashboard.peaks) == {(1, "float32"), (1, "bfloat16")}
    assert "float32: " in dashboard.table.value and "bfloat16: " in dashboard.table.value  # one peak line each
    assert bytes(dashboard.plot.value[:4]) == b"\x89PNG"


def test_buttons_are_disabled_while_a_run_is_in_progress(dashboard, monkeypatch):
    seen = []
    real_run = bench.run

    def observed_run(**kwargs):
        seen.append({b.description: b.disabled for b in (dashboard.run_button, dashboard.export_button,
                                                         dashboard.clear_button)})
        return real_run(**kwargs)

    monkeypatch.setattr(benchmark_module.bench, "run", observed_run)
    assert not dashboard.run_button.disabled
    dashboard.run_button.click()
    assert seen == [{"Run": True, "Export CSV": True, "Clear": True}]
    assert not any(b.disabled for b in (dashboard.run_button, dashboard.export_button, dashboard.clear_button))


def test_a_failed_run_enables_the_buttons_again(dashboard, monkeypatch):
    def failing_run(**kwargs):
        raise RuntimeError("backend crashed")

    monkeypatch.setattr(benchmark_module.bench, "run", failing_run)
    dashboard.run_button.click()
    assert "backend crashed" in dashboard.status.value and not dashboard.run_button.disabled


def test_a_control_change_reruns_when_asked(dashboard):
    dashboard.auto.value = True
    dashboard.n.value = 32
    assert {r["n"] for r in dashboard.results} == {32}


def test_export_writes_csv(dashboard, tmp_path):
    dashboard.run()
    path = dashboard.export()
    assert path.parent == tmp_path and len(bench.Results.from_csv(path)) == 2


def test_a_failing_run_is_shown_not_raised(dashboard):
    dashboard.backends.value = ()  # nothing to run
    dashboard.run_button.click()
    assert "UnknownBackendError" in dashboard.status.value


def test_training_dashboard_trains_draws_and_is_busy_meanwhile():
    d = widgets.training_dashboard(training.load_digits(), variants=("torch",), epochs=2)
    busy = []
    d.progress.observe(lambda change: busy.append(d.train_button.disabled), names="value")
    trainers = d.train()
    assert busy and all(busy) and not d.train_button.disabled
    assert d.progress.value == d.progress.max == 2 and d.progress.bar_style == "success"
    assert len(trainers["torch"].history) == 2 and bytes(d.plot.value[:4]) == b"\x89PNG"
    assert "torch: epoch 2" in d.status.value and "median step" in d.table.value


def test_codesign_explorer_point_and_widget():
    x = np.random.default_rng(0).standard_normal((8, 32)).astype(np.float32)
    params, base = mlp_parameters((32, 32, 32, 10)), hd.preset("tpu-v1")
    fast_link, fig = widgets.explore(base, x, params, link_scale=8, array=64, dataflow="os")
    slow_link, _ = widgets.explore(base, x, params, link_scale=1 / 8, array=64, dataflow="os", streams=1)
    assert fast_link.latency < slow_link.latency and "64×64 os" in fig.axes[0].get_title()
    explorer = widgets.codesign_explorer(base, x, params)
    link = explorer.children[0].children[0]
    plot = explorer.children[-1]
    assert link.description == "link bandwidth ×" and bytes(plot.value[:4]) == b"\x89PNG"
    before = bytes(plot.value)
    link.value = 4.0  # a slider move redraws
    assert bytes(plot.value) != before
