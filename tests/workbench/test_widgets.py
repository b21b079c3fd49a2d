"""The dashboards' compute, driven headless (no browser): runs, merges, exports, errors, training."""
import pytest

from halkit import bench, training, widgets


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
    assert "<table>" in dashboard.table.value and "8x16x16" in dashboard.table.value
    assert "done" in dashboard.status.value


def test_runs_accumulate_and_a_rerun_replaces_its_rows(dashboard):
    dashboard.run()
    dashboard.m.value = 32
    dashboard.run()
    dashboard.run()
    shapes = [(r["m"], r["backend"]) for r in dashboard.results]
    assert sorted(shapes) == [(8, "numpy"), (8, "torch"), (32, "numpy"), (32, "torch")]


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


def test_training_dashboard_trains_and_draws():
    d = widgets.training_dashboard(training.load_digits(), variants=("torch",), epochs=2)
    trainers = d.train()
    assert d.progress.value == d.progress.max == 2 and d.progress.bar_style == "success"
    assert len(trainers["torch"].history) == 2 and bytes(d.plot.value[:4]) == b"\x89PNG"
    assert "torch: epoch 2" in d.status.value
