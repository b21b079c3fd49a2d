"""Everything above the HAL runs on the remote device unchanged: training, torch.compile, the benchmark."""
import pytest
import torch

import halkit
from halkit import bench, hal
from halkit.remote import connect
from halkit.training import Digits, load_digits, loss_gap, train_side_by_side


@pytest.fixture
def as_remote(server):
    """The shared server registered as HAL device "remote" through halkit.remote.connect."""
    driver = connect(server.address, server.token_file, probe_bytes=1 << 20)
    yield driver
    hal.register_backend("remote", "halkit.remote.driver:RemoteDriver")  # closes it, back to the entry point


def test_digits_mlp_trains_on_remote_as_on_numpy(as_remote):
    """Notebook 06's model and data: same loss curve (float32 rounding apart) and the same test accuracy."""
    trainers = train_side_by_side(["numpy", "remote"], load_digits(), epochs=2)
    numpy_run, remote_run = trainers["numpy"].history, trainers["remote"].history
    assert loss_gap(remote_run, numpy_run) < 1e-5 and loss_gap(remote_run, numpy_run, "test_loss") < 1e-5
    assert [h["test_accuracy"] for h in remote_run] == [h["test_accuracy"] for h in numpy_run]
    assert remote_run[-1]["loss"] < 0.8 * remote_run[0]["loss"], "the model did not learn"


def test_torch_compile_runs_partitions_on_remote(as_remote):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    x = torch.randn(32, 64)
    with hal.use("remote"):  # placed there even where the measured link does not pay: the route is under test
        compiled, report = halkit.runtime.compile(model, (x,),
                                                  policy=halkit.runtime.PlacementPolicy(use_cost_model=False))
        got = compiled(x)
    torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
    graph = report.graphs[0]
    assert graph.device == "remote" and graph.partitions, str(report)


def test_placement_prices_the_measured_link(as_remote):
    """A partition on the remote device is charged the transfers its measured link costs."""
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    x = torch.randn(32, 64)
    with hal.use("remote"):
        _, report = halkit.runtime.compile(model, (x,), policy=halkit.runtime.PlacementPolicy(use_cost_model=False))
    link = as_remote.capabilities().link
    moving = [p for p in report.graphs[0].partitions if p.bytes_in or p.bytes_out]
    assert moving, str(report)
    for part in moving:  # at least the measured round trip, plus the bytes at the measured bandwidth
        floor = link.latency + part.bytes_in / link.h2d_bandwidth + part.bytes_out / link.d2h_bandwidth
        assert part.transfer_s >= 0.5 * floor, str(report)


def test_the_benchmark_selects_the_remote_device(as_remote):
    """halkit.bench.run — behind `python -m halkit.bench --backends remote`, the notebooks and the dashboards."""
    results = bench.run(shapes=[(32, 32, 32)], backends=["remote", "numpy"], threads=[1], quick=True, progress=False)
    timed = {row["backend"]: row for row in results}
    assert set(timed) == {"remote", "numpy"} and timed["remote"]["median_s"] > 0, results.table()


def test_the_dashboards_offer_the_remote_device(as_remote):
    from halkit.widgets.benchmark import BenchmarkDashboard
    from halkit.widgets.training import TrainingDashboard

    assert "remote" in BenchmarkDashboard(quick=True, run_on_change=False).backends.options
    tiny = Digits(torch.zeros(4, 64), torch.zeros(4, dtype=torch.int64), torch.zeros(2, 64),
                  torch.zeros(2, dtype=torch.int64))
    assert TrainingDashboard(tiny, variants=("remote",)).variants.value == ("remote",)
