"""torch.compile(model, backend="halkit") of a model whose parameters live on the halkit device.

What holds today: the compiled forward and backward run on the device — every aten op of the graphs is a
halkit kernel, nothing falls back, and the only bytes crossing the link are the input's. The graph
compiler (halkit.runtime) does not yet form HAL partitions of device tensors (it places their nodes with
torch, "tensor not in host memory"): with the tensors already on the device that costs no copies, only
its fusions.
"""
import copy

import torch
from torch import nn

import halkit.runtime  # noqa: F401  (the "halkit" torch.compile backend)
import halkit.torch.device as device


def test_compiled_model_on_the_device_matches_eager_and_stays_there(mock):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.LayerNorm(64), nn.Linear(64, 8))
    on_device = copy.deepcopy(model).to("halkit")
    compiled = torch.compile(on_device, backend="halkit")
    x = torch.randn(16, 32)
    compiled(x.to("halkit"))  # compiles
    mock.reset_stats()
    y = compiled(x.to("halkit"))
    torch.halkit.synchronize()
    stats = mock.stats()
    assert stats["h2d_bytes"] == x.numel() * 4 and stats["d2h_bytes"] == 0 and stats["launches"] > 0
    assert y.device.type == "halkit"
    torch.testing.assert_close(y.cpu(), model(x), rtol=1e-5, atol=1e-6)
    y.square().sum().backward()
    model(x).square().sum().backward()
    for p, q in zip(model.parameters(), on_device.parameters()):
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-4, atol=1e-5)
    assert device.fallback_counts() == {}
