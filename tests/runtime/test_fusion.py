"""Each fusion pass, counted on a graph where it must fire (inference graphs: no value saved for backward)."""
import torch
import torch.nn as nn

import halkit.runtime as rt

from .models import MODELLED


def _fusions(model, *inputs):
    with torch.no_grad():
        compiled, report = rt.compile(model, inputs, device="numpy", policy=MODELLED)
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


def test_fold_batch_norm_into_the_convolution_and_follow_parameter_updates():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 8, 8)
    fusions, graph = _fusions(model, x)
    assert fusions["fold_batch_norm"] == 1
    assert graph.partitions[0].kernels == ("conv2d", "relu") and graph.partitions[0].launches == 2
    assert "aten._native_batch_norm_legit_no_training" not in {p.op for p in graph.placements}
    compiled, _ = rt.compile(model, (x,), device="numpy", policy=MODELLED)
    with torch.no_grad():
        model[1].running_var.mul_(3)  # an update in place: the folded weights follow it
        model[0].weight.add_(0.1)
        torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-4)


class Scales(nn.Module):
    def forward(self, a, b):
        return (a * 2 + 1) + b * 0.5


def test_fuse_scales():
    a, b = torch.randn(3, 5), torch.randn(3, 5)
    fusions, graph = _fusions(Scales(), a, b)
    assert fusions["fuse_scales"] == 2
    assert graph.partitions[0].kernels == ("scale", "add")


def test_no_fusion_when_backward_needs_the_intermediate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU())
    compiled, report = rt.compile(model, (torch.randn(4, 8),), device="numpy", policy=MODELLED)
    assert report.graph("forward").fusions["fuse_linear_activation"] == 0  # gelu_backward reads linear's output


class CastsItsWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.b = nn.Parameter(torch.randn(5))

    def forward(self, x):
        return torch.relu(x + self.b)  # x is float64: the float32 bias is cast, a kernel on a parameter alone


def test_kernels_on_parameters_alone_run_once_per_parameter_version():
    model, x = CastsItsWeight(), torch.randn(3, 5, dtype=torch.float64)
    fusions, graph = _fusions(model, x)
    assert graph.partitions[0].kernels == ("cast", "add_bias", "relu") and graph.partitions[0].prologue_s > 0
    assert graph.partitions[0].launches == 2  # the cast runs in the prologue, not on every call
    compiled, _ = rt.compile(model, (x,), device="numpy", policy=MODELLED)
    with torch.no_grad():
        model.b.add_(1.0)
        torch.testing.assert_close(compiled(x), model(x))
