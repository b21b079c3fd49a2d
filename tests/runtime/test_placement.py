"""Placement from capabilities: every driver is a target priced by its own DeviceSpec, none is known by name.

The example driver of examples/devices (an accelerator behind a link, float32 only, 11 ops) is registered
here the way a user would; nothing above the HAL knows it, yet it gets the partitions that pay.
"""
import importlib.util
import pathlib

import pytest
import torch
import torch.nn as nn

import halkit.runtime as rt
from halkit import hal

from . import models
from .models import MODELLED

ARENA = pathlib.Path(__file__).parents[2] / "examples" / "devices" / "arena_device.py"


def _arena_class():
    spec = importlib.util.spec_from_file_location("arena_device", ARENA)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ArenaDriver


@pytest.fixture(scope="module")
def arena():
    """The example driver, registered as "arena" (and unregistered after), plus a twin with a slow link."""
    cls = _arena_class()

    class SlowLink(cls):
        name = "arena-slow-link"

        def __init__(self):
            super().__init__()
            self.caps = hal.Capabilities(ops=self.caps.ops, dtypes=self.caps.dtypes,
                                         memory_bytes=self.caps.memory_bytes, host_memory=False,
                                         cost=self.caps.cost.replace(link_latency=2e-3))
    hal.register_backend("arena", cls)
    hal.register_backend("arena-slow-link", SlowLink)
    yield hal.get_backend("arena")
    for name in ("arena", "arena-slow-link"):
        hal.unregister_backend(name)  # closed and forgotten: later tests register their own


def _compile(model, x, device, policy=None):
    with torch.no_grad():
        compiled, report = rt.compile(model, (x,), device=device, policy=policy)
        torch.testing.assert_close(compiled(x), model(x), atol=1e-4, rtol=1e-4)
    return report.graph("inference")


def test_targets_are_cpu_and_every_driver_described_by_its_capabilities(arena):
    found = {t.name: t for t in rt.targets()}
    assert next(iter(found)) == "cpu" and {"numpy", "arena"} <= set(found)
    assert found["cpu"].spec == hal.host_spec("cpu") and found["cpu"].driver is None
    assert found["arena"].spec is arena.capabilities().cost and not found["arena"].host_memory
    assert "behind a link (12 GB/s up" in found["arena"].describe()
    assert found["numpy"].supports("softmax", torch.float64) and not found["arena"].supports("gemm", torch.float64)


def test_no_backend_name_in_the_runtime():
    source = "\n".join(p.read_text() for p in (pathlib.Path(rt.__file__).parent).glob("*.py"))
    for name in ("mock", "native", "numpy", "remote", "arena"):
        assert f'"{name}"' not in source and f"'{name}'" not in source, name


def test_host_memory_target_takes_every_supported_op():
    graph = _compile(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), torch.randn(2, 4), "numpy", MODELLED)
    assert {p.where for p in graph.placements if p.op in ("aten.addmm", "aten.relu")} == {"hal_0"}
    assert graph.partitions[0].bytes_moved == 0 and graph.partitions[0].transfer_s == 0


def test_a_new_driver_gets_the_partitions_that_pay(arena):
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256))
    x = torch.randn(64, 256)
    graph = _compile(model, x, "arena")
    part = graph.partitions[0]
    assert part.kernels == ("linear[relu]", "linear") and part.target == "arena"
    spec = arena.capabilities().cost  # the transfers are the driver's own link, priced by its own spec
    expected = spec.link_copy_cost(x.numel() * 4, "h2d").seconds + spec.link_copy_cost(64 * 256 * 4, "d2h").seconds
    assert part.transfer_s == pytest.approx(expected)
    assert (part.bytes_in, part.bytes_out) == (x.numel() * 4, 64 * 256 * 4)
    assert part.resident_bytes == sum(p.numel() * 4 for p in model.parameters())
    assert part.modelled_s < part.cpu_s and "faster than the CPU" in part.explain()


def test_a_slow_link_keeps_the_same_model_on_the_cpu(arena):
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256))
    graph = _compile(model, torch.randn(64, 256), "arena-slow-link")
    assert not graph.partitions and graph.rejected
    assert "transfers" in graph.rejected[0].reason and "stays on the CPU" in graph.rejected[0].explain()
    assert all(p.where == "cpu" for p in graph.placements)


def test_ops_and_dtypes_the_driver_lacks_stay_on_the_cpu(arena):
    graph = _compile(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), torch.randn(1, 3, 8, 8), "arena")
    conv = next(p for p in graph.placements if p.op == "aten.convolution")
    assert conv.where == "cpu" and "arena does not run conv2d" in conv.reason
    graph = _compile(nn.Linear(8, 8).double(), torch.randn(4, 8, dtype=torch.float64), "arena")
    addmm = next(p for p in graph.placements if p.op == "aten.addmm")
    assert addmm.where == "cpu" and "float64 not supported by arena" in addmm.reason


def test_min_partition_size_keeps_lone_ops_on_cpu(arena):
    graph = _compile(nn.Linear(256, 256), torch.randn(64, 256), "arena")
    addmm = next(p for p in graph.placements if p.op == "aten.addmm")
    assert addmm.where == "cpu" and "min_partition_size 2" in addmm.reason
    graph = _compile(nn.Linear(256, 256), torch.randn(64, 256), "arena", rt.PlacementPolicy(min_partition_size=1))
    assert graph.partitions and graph.partitions[0].kernels == ("linear",)


def test_measured_placement_keeps_the_faster_side(monkeypatch):
    """On a host-memory driver the default policy times each node (HAL kernel vs torch, measure.py) and keeps the
    faster: here the measurement is stubbed to say the HAL's relu wins and its linear loses."""
    from halkit.runtime import measure

    def fake(node, target):
        return measure.Timing(1e-6, 2e-6) if "relu" in str(node.target) else measure.Timing(3e-6, 2e-6)
    monkeypatch.setattr(measure, "timing", fake)
    graph = _compile(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), torch.randn(2, 4), "numpy")
    where = {p.op: p for p in graph.placements}
    assert where["aten.relu"].where == "hal_0" and "measured 1 µs on numpy vs 2 µs in torch" in where["aten.relu"].reason
    assert where["aten.addmm"].where == "cpu" and where["aten.addmm"].reason.startswith("torch is faster here")


def test_a_measured_node_reads_its_weight_as_a_partition_would():
    """A linear's aten form reads w.t(); a partition computes that view on the weight itself, so the measurement
    does too (timing a dense copy of the transpose would charge the HAL a transpose back that never runs)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    from halkit.runtime import measure
    from halkit.runtime.targets import get_target

    x, w, b = torch.randn(6, 4), torch.randn(3, 4), torch.randn(3)
    gm = make_fx(nn.functional.linear, tracing_mode="fake")(x, w, b)
    addmm = next(n for n in gm.graph.nodes if n.target is torch.ops.aten.addmm.default)
    alone, examples = measure._alone(addmm)
    assert sorted(tuple(e.shape) for e in examples) == [(3,), (3, 4), (6, 4)]  # bias, the weight as stored, x
    assert any(n.target is torch.ops.aten.t.default for n in alone.graph.nodes)
    timing = measure._measure(addmm, get_target("numpy"))
    assert timing.hal_s > 0 and timing.torch_s > 0


@pytest.mark.parametrize("hal_faster", [True, False])
def test_measured_placement_rewrites_training_max_pooling_that_the_hal_runs_faster(monkeypatch, hal_faster):
    """aten's training max pooling records argmax positions, which no HAL op returns; on a measured target the
    pooling becomes torch.ops.halkit.max_pool2d (its backward recomputes them) only where the HAL's pair measures
    faster than aten's (stubbed here both ways), and gradients match eager either way."""
    from halkit.runtime import measure

    timed = []

    def fake(shape, dtype, window, target):
        timed.append((tuple(shape), window))
        return measure.Timing(1e-6, 2e-6) if hal_faster else measure.Timing(3e-6, 2e-6)
    monkeypatch.setattr(measure, "training_max_pool", fake)
    torch.manual_seed(0)
    model = models.cnn()
    compiled, report = rt.compile(model, (torch.randn(2, 3, 8, 8),), device="numpy")
    models.assert_same(compiled, model, torch.randn(2, 3, 8, 8))
    pooling = ((2, 4, 8, 8), "([2, 2], [2, 2], [0, 0], [1, 1], False)")  # its input shape and window
    assert {(shape, repr(window)) for shape, window in timed} == {pooling}
    forward = {p.op for p in report.graph("forward").placements}
    backward = {p.op for p in report.graph("backward").placements}
    assert ("halkit.max_pool2d" in forward) is hal_faster
    assert ("aten.max_pool2d_with_indices_backward" in backward) is not hal_faster


def test_measured_placement_leaves_inference_max_pooling_to_the_node_measurement(monkeypatch):
    """Without gradients aten's pooling needs no positions: its node is measured like any other, no rewrite."""
    from halkit.runtime import measure

    monkeypatch.setattr(measure, "training_max_pool", lambda *a: pytest.fail("inference pooling was timed"))
    graph = _compile(models.cnn(), torch.randn(2, 3, 8, 8), "numpy")
    assert "aten.max_pool2d_with_indices" in {p.op for p in graph.placements}
