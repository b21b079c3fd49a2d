"""HALLayerNorm against nn.LayerNorm: construction, outputs, every gradient, state_dict."""
import pytest
import torch
from torch import nn

from halkit.torch import HALLayerNorm

from twin_checks import assert_forward_and_gradients_match

TOL = dict(atol=1e-5, rtol=1e-5)


def twins(*args, **kwargs):
    ref = nn.LayerNorm(*args, **kwargs)
    hal = HALLayerNorm(*args, **kwargs)
    with torch.no_grad():  # non-trivial affine parameters, the same in both
        for p_ref, p_hal in zip(ref.parameters(), hal.parameters()):
            p_ref.normal_()
            p_hal.copy_(p_ref)
    return ref, hal


def test_is_a_drop_in_for_nn_layer_norm():
    ref, hal = nn.LayerNorm(6), HALLayerNorm(6)
    assert isinstance(hal, nn.LayerNorm)
    assert list(hal.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]
    torch.testing.assert_close(hal.weight, ref.weight)
    assert HALLayerNorm(6, elementwise_affine=False).weight is None
    assert HALLayerNorm(6, bias=False).bias is None
    assert HALLayerNorm((6,)).normalized_shape == (6,)


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(eps=1e-3), dict(bias=False), dict(elementwise_affine=False)], ids=str
)
@pytest.mark.parametrize("x_shape", [(10,), (4, 10), (2, 3, 10)], ids=str)
def test_forward_and_all_gradients_match(x_shape, kwargs):
    ref, hal = twins(10, **kwargs)
    assert_forward_and_gradients_match(ref, hal, 3 * torch.randn(x_shape) + 1, TOL)


def test_non_contiguous_input():
    ref, hal = twins(8)
    x = torch.randn(8, 5).t()
    torch.testing.assert_close(hal(x), ref(x), **TOL)


def test_multi_dimensional_normalized_shape_is_refused():
    with pytest.raises(ValueError, match="last dimension"):
        HALLayerNorm((4, 6))
