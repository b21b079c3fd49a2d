"""The device registry and the placement policy: supported ⇒ HAL in host memory; behind a link, only when it pays."""
import torch
import torch.nn as nn

import halkit.runtime as rt
from halkit.runtime.devices import HAL_DTYPES


class LinkedCost:
    """A device 1000× faster than the CPU at compute, behind a link costing `latency` per transfer."""

    def __init__(self, latency):
        self.host, self.latency = rt.host_cost_model(), latency

    def kernel_time(self, op, shapes, dtype):
        return self.host.kernel_time(op, shapes, dtype) / 1000

    def transfer_time(self, nbytes):
        return self.latency


def linked_device(latency, **changes):
    fields = dict(name="linked", backend="numpy", ops=frozenset(rt.devices()[1].ops), dtypes=HAL_DTYPES,
                  cost=LinkedCost(latency), host_memory=False)
    return rt.Device(**{**fields, **changes})


def _placements(model, x, device, policy=None):
    with torch.no_grad():
        compiled, report = rt.compile(model, (x,), device=device, policy=policy)
        torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-4)
    return report.graph("inference")


def test_registry_lists_cpu_and_the_loaded_backends():
    names = [d.name for d in rt.devices()]
    assert names[0] == "cpu" and "numpy" in names
    numpy = rt.get_device("numpy")
    assert numpy.host_memory and numpy.supports("softmax", torch.float64) and not numpy.supports("sort", torch.float32)


def test_host_memory_device_takes_every_supported_op():
    graph = _placements(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), torch.randn(2, 4), "numpy")
    assert {p.where for p in graph.placements if p.op in ("aten.addmm", "aten.relu")} == {"hal_0"}


def test_tiny_op_that_would_cost_two_transfers_stays_on_cpu():
    graph = _placements(nn.ReLU(), torch.randn(2, 4), linked_device(latency=1e-3),
                        rt.PlacementPolicy(min_partition_size=1))
    relu = next(p for p in graph.placements if p.op == "aten.relu")
    assert relu.where == "cpu" and "transfers" in relu.reason


def test_big_gemm_goes_to_the_linked_device_when_it_pays():
    graph = _placements(nn.Sequential(nn.Linear(256, 256), nn.ReLU()), torch.randn(64, 256),
                        linked_device(latency=1e-6))
    assert graph.partitions and graph.partitions[0].kernels == ("linear[relu]",)
    assert graph.partitions[0].transfer_s > 0
    assert {s.lane for s in graph.timeline} >= {"h2d", "device", "d2h"}


def test_min_partition_size_keeps_lone_ops_on_cpu():
    graph = _placements(nn.Linear(256, 256), torch.randn(64, 256), linked_device(latency=1e-6))
    addmm = next(p for p in graph.placements if p.op == "aten.addmm")
    assert addmm.where == "cpu" and "min_partition_size 2" in addmm.reason


def test_device_without_float64_leaves_float64_on_cpu():
    device = linked_device(latency=0.0, host_memory=True, dtypes=(torch.float32,))
    graph = _placements(nn.ReLU(), torch.randn(2, 4, dtype=torch.float64), device)
    assert "float64 not supported" in next(p.reason for p in graph.placements if p.op == "aten.relu")
