"""HALLinear against nn.Linear: outputs, every gradient, state_dict, an optimizer step."""
import pytest
import torch
from torch import nn

import halkit
from halkit.torch import HALLinear

from twin_checks import assert_forward_and_gradients_match, assert_sgd_steps_match

TOL = dict(atol=1e-5, rtol=1e-5)


def twins(in_features, out_features, bias=True, dtype=torch.float32):
    """An nn.Linear and a HALLinear with equal (separate) parameters."""
    ref = nn.Linear(in_features, out_features, bias=bias, dtype=dtype)
    hal = HALLinear(in_features, out_features, bias=bias, dtype=dtype)
    hal.load_state_dict(ref.state_dict())
    return ref, hal


def test_exported_from_halkit():
    assert halkit.HALLinear is HALLinear
    assert halkit.convert is halkit.torch.convert


def test_is_a_drop_in_for_nn_linear():
    ref, hal = nn.Linear(7, 3), HALLinear(7, 3)
    assert isinstance(hal, nn.Linear)
    assert list(hal.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]
    assert [p.shape for p in hal.parameters()] == [p.shape for p in ref.parameters()]
    assert HALLinear(7, 3, bias=False).bias is None
    assert HALLinear(2, 2, dtype=torch.float64).weight.dtype == torch.float64


def test_initialisation_matches_nn_linear():
    torch.manual_seed(3)
    ref = nn.Linear(16, 8)
    torch.manual_seed(3)
    hal = HALLinear(16, 8)
    torch.testing.assert_close(hal.weight, ref.weight, atol=0, rtol=0)
    torch.testing.assert_close(hal.bias, ref.bias, atol=0, rtol=0)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(16,), (1, 64), (5, 16), (2, 3, 16)], ids=str)
def test_forward_and_all_gradients_match(x_shape, bias):
    in_features = x_shape[-1]
    ref, hal = twins(in_features, 12, bias=bias)
    assert_forward_and_gradients_match(ref, hal, torch.randn(x_shape), TOL)


def test_gradient_for_bias_only():
    # The seed prototype lost the bias gradient; check it alone, with nothing else requiring grad.
    ref, hal = twins(8, 4)
    for module in (ref, hal):
        module.weight.requires_grad_(False)
    x = torch.randn(6, 8)
    hal(x).pow(2).sum().backward()
    ref(x).pow(2).sum().backward()
    assert hal.weight.grad is None
    torch.testing.assert_close(hal.bias.grad, ref.bias.grad, **TOL)


def test_large_layer_matches():
    ref, hal = twins(512, 512)
    x = torch.randn(64, 512)
    torch.testing.assert_close(hal(x), ref(x), atol=1e-4, rtol=1e-5)


def test_non_contiguous_input_and_transposed_weight():
    ref, hal = twins(10, 6)
    x = torch.randn(10, 4).t()  # non-contiguous (a transposed view)
    torch.testing.assert_close(hal(x), ref(x), **TOL)
    strided = torch.randn(4, 20)[:, ::2]  # neither C- nor F-contiguous
    torch.testing.assert_close(hal(strided), ref(strided), **TOL)
    weight_t = torch.randn(10, 6).t()  # a transposed weight is read through the HAL's trans flag
    torch.testing.assert_close(
        halkit.torch.linear(strided, weight_t, hal.bias), nn.functional.linear(strided, weight_t, hal.bias), **TOL
    )


def test_inference_modes_need_no_autograd():
    ref, hal = twins(8, 4)
    x = torch.randn(3, 8)
    with torch.no_grad():
        y = hal(x)
    assert y.grad_fn is None and not y.requires_grad
    torch.testing.assert_close(y, ref(x).detach(), **TOL)
    with torch.inference_mode():
        torch.testing.assert_close(hal(x), ref(x), **TOL)


def test_output_is_new_memory():
    _, hal = twins(8, 8)
    x = torch.randn(8)
    with torch.no_grad():
        y = hal(x)
    assert y.untyped_storage().data_ptr() not in {
        t.untyped_storage().data_ptr() for t in (x, hal.weight, hal.bias)
    }


def test_float64():
    ref, hal = twins(8, 4, dtype=torch.float64)
    x = torch.randn(3, 8, dtype=torch.float64)
    y = hal(x)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, ref(x), atol=1e-12, rtol=1e-12)


def test_state_dict_round_trip():
    ref, _ = twins(8, 4)
    hal = HALLinear(8, 4)
    hal.load_state_dict(ref.state_dict())
    back = nn.Linear(8, 4)
    back.load_state_dict(hal.state_dict())
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value, atol=0, rtol=0)


def test_sgd_step_matches():
    ref, hal = twins(8, 4)
    assert_sgd_steps_match(ref, hal, torch.randn(16, 8), torch.randn(16, 4), steps=3, tol=TOL, lr=0.1, momentum=0.9)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_fused_activation_matches_torch(activation):
    x = torch.randn(5, 8, requires_grad=True)
    w = torch.randn(4, 8, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    act = getattr(nn.functional, activation)
    y = halkit.torch.linear(x, w, b, activation)
    (gx, gw, gb) = torch.autograd.grad(y.sum(), (x, w, b))
    y_ref = act(nn.functional.linear(x, w, b))
    (rx, rw, rb) = torch.autograd.grad(y_ref.sum(), (x, w, b))
    torch.testing.assert_close(y, y_ref, **TOL)
    for got, want in ((gx, rx), (gw, rw), (gb, rb)):
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32])
def test_unsupported_dtype_is_a_clear_type_error(dtype):
    hal = HALLinear(4, 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        hal(torch.ones(3, 4, dtype=dtype))


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="features"):
        HALLinear(4, 2)(torch.ones(3, 5))


def test_bad_activation_is_refused():
    with pytest.raises(ValueError, match="activation"):
        halkit.torch.linear(torch.ones(2, 3), torch.ones(4, 3), None, "tanh")


def _second_derivatives(f, x, w, b):
    """d/d(x, w, b) of sum(d f / dx · 1): a Hessian-vector product through f's backward."""
    (grad_x,) = torch.autograd.grad(f(x, w, b).tanh().sum(), x, create_graph=True)
    return torch.autograd.grad(grad_x.square().sum(), (x, w, b))


@pytest.mark.parametrize("route", ["eager", "operator"])
@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
def test_second_derivatives_match_torch(route, activation):
    # Issue 14 item 2: double backward through relu/gelu_backward used to be silently wrong (max |Δ| 34.7).
    from halkit.torch import linear

    torch.manual_seed(1)
    x, w, b = (torch.randn(*s, dtype=torch.float64, requires_grad=True) for s in ((5, 4), (3, 4), (3,)))
    act = {None: lambda y: y, "relu": torch.relu, "gelu": torch.nn.functional.gelu}[activation]
    hal_f = {"eager": lambda x, w, b: linear(x, w, b, activation),
             "operator": lambda x, w, b: torch.ops.halkit.linear(x, w, b, activation)}[route]
    expected = _second_derivatives(lambda x, w, b: act(torch.nn.functional.linear(x, w, b)), x, w, b)
    for got, want in zip(_second_derivatives(hal_f, x, w, b), expected):
        torch.testing.assert_close(got, want, atol=1e-9, rtol=1e-7)


def test_second_derivative_through_layer_norm_is_a_clear_error():
    from halkit.torch import layer_norm

    x = torch.randn(3, 4, requires_grad=True)
    for f in (lambda x: layer_norm(x), lambda x: torch.ops.halkit.layer_norm(x)):
        (grad_x,) = torch.autograd.grad(f(x).square().sum(), x, create_graph=True)
        with pytest.raises(RuntimeError, match="second derivative through halkit.layer_norm_backward is not implemented"):
            grad_x.sum().backward()


def test_autocast_bfloat16_behaves_like_nn_linear():
    # issue 14 item 17: a bf16 activation from a torch layer under autocast used to raise a TypeError.
    torch.manual_seed(3)
    torch_first = nn.Linear(8, 8)
    ref = nn.Linear(8, 4)
    hal_layer = HALLinear(8, 4)
    hal_layer.load_state_dict(ref.state_dict())
    x = torch.randn(5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = torch_first(x)
        assert h.dtype == torch.bfloat16
        expected, got = ref(h), hal_layer(h)
    assert got.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected.float(), atol=3e-2, rtol=2e-2)
    got.float().sum().backward()  # gradients flow through the cast back to the float32 parameters
    assert hal_layer.weight.grad is not None and hal_layer.weight.grad.dtype == torch.float32
