"""On the mock accelerator: results match eager, transfers are modelled, weights stay resident."""
import pytest
import torch
import torch.nn as nn

import halkit.runtime as rt
from halkit import hal

pytestmark = pytest.mark.skipif("mock" not in hal.backends(), reason="halkit.device's mock backend is not available")


def test_profitable_mlp_runs_on_the_mock_device():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256))
    x = torch.randn(128, 256)
    with torch.no_grad():
        compiled, report = rt.compile(model, (x,), device="mock:0")
        stats_before = hal.get_backend("mock").stats()
        for _ in range(2):
            torch.testing.assert_close(compiled(x), model(x), atol=1e-4, rtol=1e-4)
        stats_after = hal.get_backend("mock").stats()
    graph = report.graph("inference")
    assert graph.partitions and graph.partitions[0].kernels == ("linear[relu]", "linear")
    assert {s.lane for s in graph.timeline} >= {"h2d", "device", "d2h"}
    assert stats_after["resident_hits"] > stats_before["resident_hits"]  # weights were not re-uploaded
