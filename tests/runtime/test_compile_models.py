"""Compiled == eager, forward and every gradient, for an MLP, a CNN and a transformer encoder layer."""
import pytest
import torch

import halkit.runtime as rt
from halkit import hal

from . import models


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_mlp_fullgraph_matches_eager():
    model = models.mlp()
    compiled, report = rt.compile(model, (torch.randn(4, 8),), device="numpy", policy=models.MODELLED, fullgraph=True)
    models.assert_same(compiled, model, torch.randn(4, 8))
    forward, backward = report.graph("forward"), report.graph("backward")
    assert [p.where for p in forward.placements if p.op == "aten.addmm"] == ["hal_0"] * 3
    assert any(p.where != "cpu" for p in backward.placements if p.op == "aten.mm")
    assert not report.fallbacks()


def test_cnn_matches_eager_with_pooling_and_convolution_gradients_on_the_hal():
    model = models.cnn()
    compiled, report = rt.compile(model, (torch.randn(2, 3, 8, 8),), device="numpy", policy=models.MODELLED, fullgraph=True)
    models.assert_same(compiled, model, torch.randn(2, 3, 8, 8))
    forward = report.graph("forward")
    assert len(forward.partitions) == 1 and not forward.on("cpu") or all(
        p.reason.startswith(("layout", "glue")) for p in forward.on("cpu")), str(forward)
    assert forward.partitions[0].kernels == ("conv2d", "relu", "max_pool2d", "linear")
    backward = {p.op: p for p in report.graph("backward").placements}
    assert backward["halkit.max_pool2d_backward"].where != "cpu"
    assert backward["aten.convolution_backward"].reason == "HAL convolution_backward on numpy"
    assert not report.fallbacks()


def test_transformer_encoder_layer_matches_eager():
    model = models.encoder_layer()
    x = torch.randn(2, 5, 16)
    compiled, report = rt.compile(model, (x,), device="numpy", policy=models.MODELLED)
    models.assert_same(compiled, model, x)
    on_hal = {p.op for p in report.graph("forward").on("hal")}
    assert {"aten._softmax", "aten.addmm", "aten.gelu"} <= on_hal  # attention's softmax reaches the HAL
    assert "aten.gelu_backward" in {p.op for p in report.graph("backward").on("hal")}


def test_transformer_inference_runs_layer_norm_on_the_hal():
    model = models.encoder_layer()  # train mode: eval()+no_grad may take torch's one-op fast path
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        compiled, report = rt.compile(model, (x,), device="numpy", policy=models.MODELLED)
        torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-4)
    graph = report.graph("inference")
    assert {p.where for p in graph.placements if p.op == "aten.native_layer_norm"} != {"cpu"}


@pytest.mark.parametrize("device", ["numpy", "native"])
def test_bfloat16_gemms_under_autocast_run_on_the_hal(device):
    # autocast hands the graph bfloat16 addmm/mm nodes; a driver declaring bfloat16 GEMMs (op_dtypes) takes them,
    # and the element-wise nodes in bfloat16 (gelu) stay in torch with the reason said
    if device not in hal.backends():
        pytest.skip(f"{device} driver not available")
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.GELU(), torch.nn.Linear(32, 4))
    x = torch.randn(6, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        compiled, report = rt.compile(model, (x,), device=device, policy=models.MODELLED)
        got, want = compiled(x), model(x)
        assert got.dtype == want.dtype == torch.bfloat16
        got.float().sum().backward()
    torch.testing.assert_close(got.float(), want.float(), rtol=2**-6, atol=2**-6 * want.float().abs().max().item())
    assert model[0].weight.grad.dtype == torch.float32
    forward = {p.node: p for p in report.graph("forward").placements}
    assert all(p.where != "cpu" for p in forward.values() if p.op == "aten.addmm"), str(report.graph("forward"))
    assert "bfloat16 not supported" in forward["gelu"].reason
