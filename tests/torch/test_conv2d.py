"""HALConv2d against nn.Conv2d: construction, outputs, every gradient, state_dict."""
import pytest
import torch
from torch import nn

from halkit.torch import HALConv2d

from twin_checks import assert_forward_and_gradients_match, assert_sgd_steps_match

TOL = dict(atol=1e-4, rtol=1e-5)


def twins(*args, **kwargs):
    ref = nn.Conv2d(*args, **kwargs)
    hal = HALConv2d(*args, **kwargs)
    hal.load_state_dict(ref.state_dict())
    return ref, hal


def test_is_a_drop_in_for_nn_conv2d():
    ref, hal = nn.Conv2d(3, 8, 3), HALConv2d(3, 8, 3)
    assert isinstance(hal, nn.Conv2d)
    assert list(hal.state_dict()) == list(ref.state_dict())
    assert hal.weight.shape == ref.weight.shape and HALConv2d(3, 8, 3, bias=False).bias is None
    torch.manual_seed(5)
    a = nn.Conv2d(2, 4, 3)
    torch.manual_seed(5)
    b = HALConv2d(2, 4, 3)
    torch.testing.assert_close(a.weight, b.weight, atol=0, rtol=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, padding=1, bias=False),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
        dict(kernel_size=3, padding="same", dilation=2),
        dict(kernel_size=1, padding="valid"),
        dict(kernel_size=3, padding=1, padding_mode="reflect"),
        dict(kernel_size=3, padding=(2, 1), padding_mode="circular"),
    ],
    ids=str,
)
def test_forward_and_all_gradients_match(kwargs):
    ref, hal = twins(3, 4, **kwargs)
    assert_forward_and_gradients_match(ref, hal, torch.randn(2, 3, 9, 8), TOL)


def test_channels_last_input_and_no_grad():
    ref, hal = twins(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 6, 6).to(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(hal(x), ref(x), **TOL)


def test_sgd_step_matches():
    ref, hal = twins(2, 3, 3, padding=1)
    assert_sgd_steps_match(ref, hal, torch.randn(4, 2, 5, 5), torch.randn(4, 3, 5, 5), steps=2, tol=TOL, lr=0.05)


def test_groups_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="groups must be 1"):
        HALConv2d(4, 4, 3, groups=2)


def test_asymmetric_same_padding_is_refused():
    with pytest.raises(ValueError, match="asymmetric"):
        HALConv2d(2, 2, 2, padding="same")
