"""torch.autograd.gradcheck in float64, through both routes: the eager autograd Functions
(halkit.torch.linear/...) and the registered operators (torch.ops.halkit.*)."""
import functools

import pytest
import torch

import halkit.torch as ht

ops = torch.ops.halkit


def f64(*shape, grad=True):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=grad)


ROUTES = {"eager": ht, "operator": ops}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
def test_linear(route, activation):
    linear = ROUTES[route].linear
    assert torch.autograd.gradcheck(lambda x, w, b: linear(x, w, b, activation), (f64(2, 3, 5), f64(4, 5), f64(4)))
    assert torch.autograd.gradcheck(lambda x, w: linear(x, w, None, activation), (f64(5), f64(4, 5)))


def test_linear_with_some_inputs_frozen():
    x, w, b = f64(3, 5, grad=False), f64(4, 5, grad=False), f64(4, grad=False)
    assert torch.autograd.gradcheck(lambda w: ht.linear(x, w, None), (f64(4, 5),))
    assert torch.autograd.gradcheck(lambda x: ht.linear(x, w, b), (f64(3, 5),))
    assert torch.autograd.gradcheck(lambda b: ht.linear(x, w, b), (f64(4),))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(route, affine):
    layer_norm = ROUTES[route].layer_norm
    params = (f64(6), f64(6)) if affine else (None, None)
    assert torch.autograd.gradcheck(lambda x: layer_norm(x, *params, 1e-5), (f64(2, 3, 6),))
    if affine:
        assert torch.autograd.gradcheck(lambda x, w, b: layer_norm(x, w, b, 1e-5), (f64(3, 6), *params))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "stride, padding, dilation, activation",
    [((1, 1), (0, 0), (1, 1), None), ((2, 1), (1, 2), (1, 2), None), ((1, 1), (1, 1), (1, 1), "relu"),
     ((1, 2), (0, 1), (2, 1), "gelu")],
)
def test_conv2d(route, stride, padding, dilation, activation):
    conv2d = functools.partial(ROUTES[route].conv2d, stride=stride, padding=padding, dilation=dilation,
                               activation=activation)
    if route == "operator":  # the operator's int[2] arguments are lists
        conv2d = functools.partial(conv2d, stride=list(stride), padding=list(padding), dilation=list(dilation))
    assert torch.autograd.gradcheck(lambda x, w, b: conv2d(x, w, b), (f64(2, 3, 6, 5), f64(2, 3, 3, 2), f64(2)))


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_matmul(trans_a, trans_b):
    a = f64(*((4, 3) if trans_a else (3, 4)))
    b = f64(*((5, 4) if trans_b else (4, 5)))
    assert torch.autograd.gradcheck(lambda a, b: ops.matmul(a, b, trans_a, trans_b), (a, b))


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_activations(name):
    x = f64(4, 6)
    with torch.no_grad():
        x += torch.sign(x) * 0.1  # keep relu away from its kink at 0
    assert torch.autograd.gradcheck(getattr(ops, name), (x,))


def test_elementwise_and_reductions():
    assert torch.autograd.gradcheck(ops.add, (f64(3, 4), f64(3, 4)))
    assert torch.autograd.gradcheck(ops.mul, (f64(3, 4), f64(3, 4)))
    assert torch.autograd.gradcheck(ops.sum_rows, (f64(2, 3, 4),))
    assert torch.autograd.gradcheck(lambda x: ops.softmax(x, 0), (f64(3, 4),))
