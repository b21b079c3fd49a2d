"""torch.compile(fullgraph=True) over models of HAL modules: no graph breaks, the HAL
operators in the graph, and the same outputs and gradients as eager."""
import pytest
import torch
from torch import nn

import halkit.torch as ht
from halkit.torch import HALConv2d, HALLayerNorm, HALLinear


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def capture_graphs(model, *inputs):
    """Compile ``model`` with fullgraph=True through a backend that records the FX graphs it gets."""
    graphs = []

    def recording_backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(model, backend=recording_backend, fullgraph=True)
    return compiled(*inputs), graphs


def hal_targets(graph_module):
    return {str(node.target) for node in graph_module.graph.nodes if "halkit" in str(node.target)}


def mlp():
    return nn.Sequential(HALLinear(16, 32), nn.ReLU(), HALLinear(32, 32), nn.GELU(), HALLinear(32, 4))


def test_mlp_is_one_graph_of_hal_ops():
    model = mlp()
    x = torch.randn(8, 16)
    y, graphs = capture_graphs(model, x)
    assert len(graphs) == 1
    assert hal_targets(graphs[0]) == {"halkit.linear.default"}
    torch.testing.assert_close(y, model(x))


@pytest.mark.parametrize("compiler", ["eager", "aot_eager", "inductor"])
def test_mlp_trains_the_same_compiled(compiler):
    eager = mlp()
    compiled_model = mlp()
    compiled_model.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_model, backend=compiler, fullgraph=True)
    x = torch.randn(8, 16, requires_grad=True)
    x_eager = x.detach().clone().requires_grad_()

    y, y_eager = compiled(x), eager(x_eager)
    torch.testing.assert_close(y, y_eager, atol=1e-5, rtol=1e-5)
    y.square().sum().backward()
    y_eager.square().sum().backward()
    torch.testing.assert_close(x.grad, x_eager.grad, atol=1e-5, rtol=1e-5)
    for p, p_eager in zip(compiled_model.parameters(), eager.parameters()):
        torch.testing.assert_close(p.grad, p_eager.grad, atol=1e-5, rtol=1e-5)


def test_dynamic_batch_does_not_break_the_graph():
    model = mlp()
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    for batch in (2, 5, 9):
        x = torch.randn(batch, 16)
        torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-5)


def test_fused_linear_op_in_a_compiled_function():
    def block(x, w, b):
        return ht.linear(x, w, b, "gelu")

    x, w, b = torch.randn(4, 8), torch.randn(6, 8, requires_grad=True), torch.randn(6, requires_grad=True)
    y, graphs = capture_graphs(block, x, w, b)
    assert hal_targets(graphs[0]) == {"halkit.linear.default"}
    torch.testing.assert_close(y, nn.functional.gelu(nn.functional.linear(x, w, b)), atol=1e-5, rtol=1e-5)


def test_conv_net_compiles_without_breaks():
    model = nn.Sequential(
        HALConv2d(3, 8, 3, padding=1), nn.ReLU(), HALConv2d(8, 4, 3, stride=2), nn.Flatten(),
        HALLayerNorm(4 * 3 * 3), HALLinear(36, 10),
    )
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    y, graphs = capture_graphs(model, x)
    assert len(graphs) == 1
    assert hal_targets(graphs[0]) == {"halkit.conv2d.default", "halkit.layer_norm.default", "halkit.linear.default"}
    torch.testing.assert_close(y, model(x), atol=1e-5, rtol=1e-5)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    (grad_compiled,) = torch.autograd.grad(compiled(x).sum(), x)
    (grad_eager,) = torch.autograd.grad(model(x).sum(), x)
    torch.testing.assert_close(grad_compiled, grad_eager, atol=1e-5, rtol=1e-5)


def test_make_fx_traces_the_operators():
    # Tracers that run under a dispatch mode (make_fx, fake tensors) get the operators, not raw HAL calls.
    model = mlp()
    gm = torch.fx.experimental.proxy_tensor.make_fx(model)(torch.randn(3, 16))
    assert hal_targets(gm) == {"halkit.linear.default"}
    x = torch.randn(5, 16)
    torch.testing.assert_close(gm(x), model(x))


def test_export_keeps_the_operators():
    model = mlp()
    exported = torch.export.export(model, (torch.randn(3, 16),))
    assert hal_targets(exported.graph_module) == {"halkit.linear.default"}
    x = torch.randn(3, 16)
    torch.testing.assert_close(exported.module()(x), model(x))
