"""Each fusion pass, counted on a graph where it must fire (inference graphs: no value saved for backward)."""
import torch
import torch.nn as nn

import halkit.runtime as rt


def _fusions(model, *inputs):
    with torch.no_grad():
        compiled, report = rt.compile(model, inputs, device="numpy")
        torch.testing.assert_close(compiled(*inputs), model(*inputs), atol=1e-5, rtol=1e-4)
    return report.fusions, report.graph("inference")


def test_fuse_linear_activation():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 4))
    fusions, graph = _fusions(model, torch.randn(4, 8))
    assert fusions["fuse_linear_activation"] == 2
    assert graph.partitions[0].kernels == ("linear[relu]", "linear[gelu]", "linear")


class MatmulPlusBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.w, self.b = nn.Parameter(torch.randn(8, 5)), nn.Parameter(torch.randn(5))

    def forward(self, x):
        return torch.relu(x @ self.w + self.b)


def test_fuse_matmul_add_then_activation():
    fusions, graph = _fusions(MatmulPlusBias(), torch.randn(4, 8))
    assert fusions["fuse_matmul_add"] == 1 and fusions["fuse_linear_activation"] == 1
    assert graph.partitions[0].kernels == ("linear[relu]",)


def test_fuse_conv_activation():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    fusions, graph = _fusions(model, torch.randn(1, 3, 6, 6))
    assert fusions["fuse_conv_activation"] == 1
    assert graph.partitions[0].kernels == ("conv2d[relu]",)


class Elementwise(nn.Module):
    def forward(self, a, b, c):
        return torch.nn.functional.gelu(torch.relu(a + b) * c)


def test_fuse_elementwise_chains():
    a, b, c = (torch.randn(3, 5) for _ in range(3))
    fusions, graph = _fusions(Elementwise(), a, b, c)
    assert fusions["fuse_elementwise_chains"] == 1
    assert graph.partitions[0].kernels == ("chain[add+relu+mul+gelu]",)


def test_no_fusion_when_backward_needs_the_intermediate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU())
    compiled, report = rt.compile(model, (torch.randn(4, 8),), device="numpy")
    assert report.graph("forward").fusions["fuse_linear_activation"] == 0  # gelu_backward reads linear's output
