"""Compiled == eager, forward and every gradient, for an MLP, a CNN and a transformer encoder layer."""
import pytest
import torch

import halkit.runtime as rt

from . import models


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_mlp_fullgraph_matches_eager():
    model = models.mlp()
    compiled, report = rt.compile(model, (torch.randn(4, 8),), device="numpy", fullgraph=True)
    models.assert_same(compiled, model, torch.randn(4, 8))
    forward, backward = report.graph("forward"), report.graph("backward")
    assert [p.where for p in forward.placements if p.op == "aten.addmm"] == ["hal_0"] * 3
    assert any(p.where != "cpu" for p in backward.placements if p.op == "aten.mm")
    assert not report.fallbacks()


def test_cnn_with_cpu_pooling_matches_eager():
    model = models.cnn()
    compiled, report = rt.compile(model, (torch.randn(2, 3, 8, 8),), device="numpy", fullgraph=True)
    models.assert_same(compiled, model, torch.randn(2, 3, 8, 8))
    forward = report.graph("forward")
    where = {p.op: p.where for p in forward.placements}
    assert where["aten.convolution"].startswith("hal_") and where["aten.addmm"].startswith("hal_")
    assert where["aten.max_pool2d_with_indices"] == "cpu"
    assert "aten.max_pool2d_with_indices" in report.fallbacks()
    conv_backward = next(p for p in report.graph("backward").placements if p.op == "aten.convolution_backward")
    assert conv_backward.where != "cpu" and "conv2d_input_grad + conv2d_weight_grad + sum_rows" in conv_backward.reason


def test_transformer_encoder_layer_matches_eager():
    model = models.encoder_layer()
    x = torch.randn(2, 5, 16)
    compiled, report = rt.compile(model, (x,), device="numpy")
    models.assert_same(compiled, model, x)
    on_hal = {p.op for p in report.graph("forward").on("hal")}
    assert {"aten._softmax", "aten.addmm", "aten.gelu"} <= on_hal  # attention's softmax reaches the HAL
    assert "aten.gelu_backward" in {p.op for p in report.graph("backward").on("hal")}


def test_transformer_inference_runs_layer_norm_on_the_hal():
    model = models.encoder_layer()  # train mode: eval()+no_grad may take torch's one-op fast path
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        compiled, report = rt.compile(model, (x,), device="numpy")
        torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-4)
    graph = report.graph("inference")
    assert {p.where for p in graph.placements if p.op == "aten.native_layer_norm"} != {"cpu"}
