"""HALLinear's C++ route (cpp/torch_device/eager_linear.cpp) against torch: taken where it applies, declined
(the Python route then runs) where it does not, and every result and gradient equal to nn.Linear's.

It runs on a driver that publishes host kernels (the native one); on the others these tests are deselected.
"""
import ctypes
import os

import pytest
import torch
from torch import nn

from halkit import hal
from halkit.torch import HALLinear, autograd, linear, tensor_ops

pytestmark = pytest.mark.host_kernels

TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture
def route(monkeypatch):
    """Records what each call of the C++ route returned: a tensor (taken) or None (declined)."""
    if autograd._host_linear is None:
        if os.environ.get("CI"):
            pytest.fail("halkit.torch.device._C has no linear: run `python -m halkit.build`")
        pytest.skip("the torch device extension is not built (python -m halkit.build)")
    taken, real = [], autograd._host_linear

    def spy(*args):
        output = real(*args)
        taken.append(output is not None)
        return output

    monkeypatch.setattr(autograd, "_host_linear", spy)
    return taken


@pytest.fixture
def python_formula(monkeypatch):
    """Counts the Python backward formula's calls (the C++ route's backward never makes one)."""
    calls, real = [], tensor_ops.linear_grads
    monkeypatch.setattr(tensor_ops, "linear_grads", lambda *a: calls.append(a) or real(*a))
    return calls


def _reference(x, weight, bias, activation):
    y = nn.functional.linear(x, weight, bias)
    return torch.relu(y) if activation == "relu" else y


def _gradient_scales(x, weight, bias, upstream):
    """Per element, the sum of |terms| of each gradient (|g| @ |W|, |g|^T @ |x|, sum |g|), in float64."""
    x2, g2 = x.detach().double().reshape(-1, x.shape[-1]), upstream.double().reshape(-1, weight.shape[0])
    return ((g2.abs() @ weight.detach().double().abs()).reshape(x.shape), g2.abs().T @ x2.abs(),
            None if bias is None else g2.abs().sum(0))


def _assert_within_rounding(got, want, scale):
    # Two float32 GEMMs that sum in different orders differ by rounding that grows with the terms summed
    # (K = 200 rows of a batch): bound it by 1e-5 of the sum of |terms|, as tests/native/test_gemm.py does,
    # not by a fixed atol (which torch's own MKL and oneDNN paths do not meet against each other).
    err = (got.double() - want.double()).abs()
    bound = 1e-5 * scale + 1e-6
    assert (err <= bound).all(), f"max error {err.max():.3g}, {(err / bound).max():.2f}x the rounding bound"


def _leaves(*tensors):
    return [None if t is None else t.detach().clone().requires_grad_(t.requires_grad) for t in tensors]


# x shapes × out features: 1x1, batch 1, odd sizes, large K, 3-D and 1-D inputs, the skinny and packed GEMMs
CASES = [((1, 1), 1), ((1, 64), 64), ((3, 7), 5), ((2, 4100), 3), ((5, 3, 17), 9), ((17,), 4), ((72, 130), 65),
         ((200, 96), 160)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape, out_features", CASES)
def test_forward_and_gradients_match_torch(route, python_formula, x_shape, out_features, bias, activation, threads):
    previous = hal.get_num_threads()
    hal.set_num_threads(threads)
    try:
        x = torch.randn(x_shape, requires_grad=True)
        w = torch.randn(out_features, x_shape[-1], requires_grad=True)
        b = torch.randn(out_features, requires_grad=True) if bias else None
        refs = _leaves(x, w, b)
        y = linear(x, w, b, activation)
        expected = _reference(*refs, activation)
        torch.testing.assert_close(y, expected, **TOL)
        weights = torch.randn(expected.shape)  # a gradient that is neither ones nor expanded
        (y * weights).sum().backward()
        (expected * weights).sum().backward()
        scales = _gradient_scales(x, w, b, weights)
        for got, want, scale in zip((x, w, b), refs, scales):
            if got is not None:
                _assert_within_rounding(got.grad, want.grad, scale)
    finally:
        hal.set_num_threads(previous)
    assert route == [True] and python_formula == []


def test_inference_takes_the_route_and_attaches_no_node(route):
    layer, x = HALLinear(8, 3), torch.randn(2, 8)
    with torch.no_grad():
        y = layer(x)
        expected = nn.functional.linear(x, layer.weight, layer.bias)
    assert route == [True] and y.grad_fn is None and not y.requires_grad
    torch.testing.assert_close(y, expected, **TOL)


def test_second_derivatives_match_torch(route):
    # create_graph=True: the node hands over to the formula on the registered operators, which autograd records
    x, w, b = (torch.randn(*s, dtype=torch.float32, requires_grad=True) for s in ((4, 6), (5, 6), (5,)))
    for activation in (None, "relu"):
        refs = _leaves(x, w, b)
        gx, = torch.autograd.grad(linear(x, w, b, activation).square().sum(), x, create_graph=True)
        rx, = torch.autograd.grad(_reference(*refs, activation).square().sum(), refs[0], create_graph=True)
        torch.testing.assert_close(gx, rx, **TOL)
        for got, want in zip(torch.autograd.grad(gx.square().sum(), (x, w, b)),
                             torch.autograd.grad(rx.square().sum(), refs)):
            torch.testing.assert_close(got, want, **TOL)
    assert route == [True, True]


@pytest.mark.parametrize("case", ["float64", "transposed x", "transposed weight", "empty x", "gelu", "zero K"])
def test_declined_cases_take_the_python_route_and_match_torch(route, case):
    x, w, b = torch.randn(4, 6), torch.randn(5, 6), torch.randn(5)
    activation = None
    if case == "float64":
        x, w, b = x.double(), w.double(), b.double()
    elif case == "transposed x":
        x = torch.randn(6, 4).t()
    elif case == "transposed weight":
        w = torch.randn(6, 5).t()
    elif case == "empty x":
        x = torch.randn(0, 6)
    elif case == "zero K":
        x, w = torch.randn(4, 0), torch.randn(5, 0)
    x.requires_grad_()
    w.requires_grad_()
    activation = "gelu" if case == "gelu" else None
    refs = _leaves(x, w, b)
    y = linear(x, w, b, activation)
    expected = nn.functional.linear(*refs)
    expected = nn.functional.gelu(expected) if activation == "gelu" else expected
    torch.testing.assert_close(y, expected, **TOL)
    y.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(x.grad, refs[0].grad, **TOL)
    torch.testing.assert_close(w.grad, refs[1].grad, **TOL)
    assert route == ([] if case == "gelu" else [False])  # gelu is not asked of it at all


def test_bad_input_gets_the_python_routes_error(route):
    with pytest.raises(ValueError, match="inner dimensions|in_features|columns"):
        linear(torch.randn(2, 3), torch.randn(4, 5))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        linear(torch.tensor(1.0), torch.randn(4, 1))
    with pytest.raises(TypeError, match="dtype"):
        linear(torch.randn(2, 3).half(), torch.randn(4, 3).half())


def test_functorch_transforms_are_not_taken_by_the_route(route):
    # Under torch.func the Function route runs, with torch's own message for such Functions; the C++ node
    # would be invisible to the transform and give a wrong gradient silently.
    w, b = torch.randn(3, 4), torch.randn(3)
    with pytest.raises(RuntimeError, match="functorch"):
        torch.func.grad(lambda x: linear(x, w, b).square().sum())(torch.randn(2, 4))
    assert route == []


def test_an_optimizer_step_between_forward_and_backward_is_torchs_error(route):
    layer = HALLinear(4, 3)
    y = layer(torch.randn(2, 4, requires_grad=True))
    with torch.no_grad():
        layer.weight.add_(1.0)  # the weight was saved for x's gradient
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_a_capsule_of_another_abi_is_refused(route):
    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype, new_capsule.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    name = ctypes.create_string_buffer(b"halkit.host_kernels.v0")  # outlives the capsule: it keeps the pointer
    other_abi = new_capsule(ctypes.addressof(name), name, None)
    args = (torch.randn(1, 2), torch.randn(3, 2), None, False)
    with pytest.raises(ValueError, match="halkit.host_kernels.v1"):
        autograd._host_linear(*args, other_abi, autograd.linear_backward_recorded)
    with pytest.raises(TypeError):
        autograd._host_linear(*args, object(), autograd.linear_backward_recorded)
