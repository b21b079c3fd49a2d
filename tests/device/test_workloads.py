"""The MLP forward on the mock device, overlap on two streams, knob sweeps (their plots: tests/workbench)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import halkit.device as hd
from halkit.device.workloads import mlp_forward, mlp_parameters, mlp_reference, sweep

pytestmark = pytest.mark.timeout(120)

SIZES = (256, 256, 256, 10)


@pytest.fixture
def mlp(rng):
    return rng.standard_normal((32, SIZES[0])).astype(np.float32), mlp_parameters(SIZES)


@pytest.mark.parametrize("streams", [1, 2])
def test_mlp_forward_is_correct(mlp, streams, no_thread_leaks):
    x, params = mlp
    with hd.Device("edge-npu") as device:
        run = mlp_forward(device, x, params, streams=streams)
        assert device.memory_stats()["used"] == 0
    np.testing.assert_allclose(run.output, mlp_reference(x, params), rtol=1e-4, atol=1e-5)
    assert len(run.kernels) == len(params) and run.latency > 0


def test_two_streams_overlap_copies_with_compute(mlp):
    x, params = mlp
    latency = {}
    for streams in (1, 2):
        with hd.Device("tpu-v1") as device:
            run = mlp_forward(device, x, params, streams=streams)
        latency[streams] = run.latency
        busy = run.busy("h2d") + run.busy("compute") + run.busy("d2h")
    assert latency[1] == pytest.approx(busy, rel=1e-9)  # one stream: the parts add up
    assert latency[2] < latency[1]  # two streams: weight uploads hide behind earlier layers
    assert latency[2] >= run.busy("h2d")  # ... but the link is still busy the whole time


def test_resident_weights_remove_the_uploads(mlp):
    x, params = mlp
    with hd.Device("edge-npu") as device:
        cold = mlp_forward(device, x, params)
        warm = mlp_forward(device, x, params, weights_resident=True)
    assert warm.latency < cold.latency and warm.busy("h2d") == pytest.approx(
        hd.preset("edge-npu").link_copy_cost(x.nbytes, "h2d").seconds)


def test_sweep_latency_falls_with_link_bandwidth(mlp):
    x, params = mlp
    spec = hd.preset("edge-npu")
    rows = sweep(spec, "link_bandwidth", [spec.link_bandwidth * f for f in (1, 4, 16)], x, params)
    for n in (1, 2):
        latencies = [r["latency"] for r in rows if r["streams"] == n]
        assert latencies == sorted(latencies, reverse=True)
    array_rows = sweep(spec.replace(memory_bandwidth=1e13), "array", [8, 64], x, params, streams=2,
                       weights_resident=True)
    assert array_rows[0]["compute_busy"] > array_rows[1]["compute_busy"]
    with pytest.raises(ValueError, match="streams"):
        mlp_forward(hd.Device("edge-npu"), x, params, streams=3)
