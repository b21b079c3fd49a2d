"""The eager autograd routes of HALLinear & co (halkit.torch.autograd), each checked.

"host": HALLinear's C++ route (cpp/torch_device/eager_linear.cpp), forward and backward on the driver's C
kernels, taken on a driver that publishes them (the native one; these tests run on it); "node": the Python
forward with the C++ autograd node of cpp/torch_device/autograd_node.cpp, the route of the other layers and of
linear elsewhere; "function": the Python torch.autograd.Function, the route without the torch device
extension. Each must behave as torch's own nodes do: the same gradients, torch's errors for a second
backward and for an in-place change of a saved tensor, saved-tensor hooks honoured, the graph freed by
reference counting.
"""
import gc
import os
import weakref

import pytest
import torch
from torch import nn
from torch.autograd import forward_ad

from halkit import hal
from halkit.torch import HALConv2d, HALLayerNorm, HALLinear, autograd, linear, tensor_ops

from twin_checks import assert_forward_and_gradients_match

TOL = dict(atol=1e-5, rtol=1e-5)


def _require_extension(name):
    if getattr(autograd, name) is None:
        if os.environ.get("CI"):  # CI builds the extension: every route must be there
            pytest.fail(f"halkit.torch.device._C lacks what autograd.{name} holds: run `python -m halkit.build`")
        pytest.skip("the torch device extension is not built (python -m halkit.build)")


def _select_route(name, monkeypatch):
    if name == "host":
        _require_extension("_host_linear")
        return name
    monkeypatch.setattr(autograd, "_host_linear", None)
    if name == "node":
        _require_extension("_attach_backward")
    else:
        monkeypatch.setattr(autograd, "_attach_backward", None)
    return name


@pytest.fixture(params=["host", "node", "function"])
def route(request, monkeypatch):
    return _select_route(request.param, monkeypatch)


@pytest.fixture(params=["node", "function"])
def python_formula_route(request, monkeypatch):
    """The routes whose backward runs the Python formula (tensor_ops.linear_grads)."""
    return _select_route(request.param, monkeypatch)


def _twins(module, *args, **kwargs):
    ref = module.__mro__[1](*args, **kwargs)  # the torch layer a HAL layer subclasses
    hal = module(*args, **kwargs)
    hal.load_state_dict(ref.state_dict())
    return ref, hal


@pytest.mark.parametrize("make, x_shape", [
    (lambda: _twins(HALLinear, 6, 5), (4, 6)),
    (lambda: _twins(HALLinear, 6, 5), (6,)),
    (lambda: _twins(HALLinear, 6, 5, bias=False), (2, 3, 6)),
    (lambda: _twins(HALLayerNorm, 6), (3, 6)),
    (lambda: _twins(HALConv2d, 2, 3, 3, padding=1), (2, 2, 5, 5)),
], ids=["linear", "linear-1d", "linear-3d-nobias", "layer_norm", "conv2d"])
def test_gradients_match_torch(route, make, x_shape):
    ref, hal = make()
    assert_forward_and_gradients_match(ref, hal, torch.randn(x_shape), TOL)


@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
def test_fused_activation_gradients_match_torch(route, activation):
    x, w, b = (torch.randn(*s, requires_grad=True) for s in ((4, 6), (5, 6), (5,)))
    act = {None: lambda y: y, "relu": torch.relu, "gelu": nn.functional.gelu}[activation]
    grads = torch.autograd.grad(linear(x, w, b, activation).square().sum(), (x, w, b))
    expected = torch.autograd.grad(act(nn.functional.linear(x, w, b)).square().sum(), (x, w, b))
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, **TOL)


def test_grad_fn_is_named_after_the_function(route):
    y = HALLinear(3, 2)(torch.randn(1, 3))
    assert y.grad_fn.name() == "LinearFunctionBackward"
    assert len(y.grad_fn.next_functions) >= 2  # the edges to the weight and bias (and x when it needs a gradient)


def test_only_the_gradients_asked_for_are_computed(python_formula_route, monkeypatch):
    asked = []
    real = tensor_ops.linear_grads
    monkeypatch.setattr(tensor_ops, "linear_grads", lambda *a: asked.append(a[3:]) or real(*a))
    layer = HALLinear(3, 2)
    layer.weight.requires_grad_(False)
    layer(torch.randn(4, 3)).sum().backward()  # x needs no gradient, the weight is frozen: only the bias's
    assert asked == [(False, False, True)]
    assert layer.weight.grad is None and layer.bias.grad is not None


@pytest.mark.parametrize("frozen", ["weight", "bias", "x"])
def test_a_frozen_input_gets_no_gradient(route, frozen):
    layer = HALLinear(3, 2)
    x = torch.randn(4, 3, requires_grad=True)
    tensors = {"weight": layer.weight, "bias": layer.bias, "x": x}
    tensors[frozen].requires_grad_(False)
    ref = nn.Linear(3, 2)
    ref.load_state_dict(layer.state_dict())
    x_ref = x.detach().clone().requires_grad_(frozen != "x")
    layer(x).square().sum().backward()
    ref(x_ref).square().sum().backward()
    expected = {"weight": ref.weight.grad, "bias": ref.bias.grad, "x": x_ref.grad}
    for name, tensor in tensors.items():
        if name == frozen:
            assert tensor.grad is None
        else:
            torch.testing.assert_close(tensor.grad, expected[name], **TOL)


def test_second_backward_is_torchs_error(route):
    y = HALLinear(3, 2)(torch.randn(4, 3))
    y.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.sum().backward()


def test_retain_graph_allows_another_backward(route):
    layer = HALLinear(3, 2)
    y = layer(torch.randn(4, 3))
    y.sum().backward(retain_graph=True)
    first = layer.weight.grad.clone()
    y.sum().backward()
    torch.testing.assert_close(layer.weight.grad, 2 * first)


def test_in_place_change_of_a_saved_input_is_detected(route):
    x = torch.randn(4, 3, requires_grad=True)
    h = x * 2
    y = HALLinear(3, 2)(h)
    h.add_(1)  # h was saved for the weight's gradient
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_saved_tensor_hooks_see_every_saved_tensor(route):
    packed, unpacked = [], []

    def pack(t):
        packed.append(t.shape)
        return t

    def unpack(t):
        unpacked.append(t.shape)
        return t

    layer = HALLinear(3, 2)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = layer(torch.randn(4, 3))
    y.sum().backward()
    assert sorted(packed) == sorted(unpacked) == sorted([torch.Size([4, 3]), torch.Size([2, 3])])


def test_graph_is_freed_by_reference_counting(route):
    # relu saves the output itself: the node must hold it without a cycle (output -> node -> output), or the
    # graph and everything it saved would wait for the cyclic collector.
    x = torch.randn(4, 3, requires_grad=True)
    gc.disable()
    try:
        h = x * 2  # referenced by the graph only, once deleted here
        y = linear(h, torch.randn(2, 3, requires_grad=True), None, "relu")
        saved, out = weakref.ref(h), weakref.ref(y)
        del h
        assert saved() is not None  # kept by the node
        del y
        assert out() is None and saved() is None
    finally:
        gc.enable()


def test_an_error_in_the_backward_formula_reaches_the_caller(python_formula_route, monkeypatch):
    def broken(*args):
        raise ValueError("formula failed")

    monkeypatch.setattr(tensor_ops, "linear_grads", broken)
    y = HALLinear(3, 2)(torch.randn(4, 3))
    with pytest.raises(ValueError, match="formula failed"):
        y.sum().backward()


def test_forward_mode_ad_is_a_clear_error(route):
    with forward_ad.dual_level():
        x = forward_ad.make_dual(torch.randn(4, 3), torch.randn(4, 3))
        with pytest.raises((RuntimeError, NotImplementedError), match="forward-mode|jvp"):
            HALLinear(3, 2)(x)
