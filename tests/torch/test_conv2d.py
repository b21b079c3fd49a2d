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


@pytest.mark.parametrize("in_c, out_c, groups", [(4, 6, 2), (3, 3, 3), (6, 12, 6)], ids=["grouped", "depthwise",
                                                                                         "depthwise-x2"])
def test_grouped_and_depthwise_convolutions_match(in_c, out_c, groups):
    ref, hal = twins(in_c, out_c, 3, padding=1, stride=2, groups=groups)
    assert_forward_and_gradients_match(ref, hal, torch.randn(2, in_c, 7, 6), TOL)


def test_unbatched_chw_input_matches():
    ref, hal = twins(3, 4, 3, padding=1)
    x = torch.randn(3, 6, 5)
    torch.testing.assert_close(hal(x), ref(x), **TOL)
    assert hal(x).shape == (4, 6, 5)


def test_functional_conv2d_takes_same_and_valid_padding():
    from halkit.torch import conv2d

    x, w = torch.randn(1, 2, 7, 7), torch.randn(3, 2, 3, 3)
    for padding in ("same", "valid"):
        torch.testing.assert_close(conv2d(x, w, padding=padding), nn.functional.conv2d(x, w, padding=padding), **TOL)
    with pytest.raises(ValueError, match="padding must be an int, a pair of ints, 'valid' or 'same'"):
        conv2d(x, w, padding="full")


def test_width_one_output_geometry_from_the_adversarial_pass():
    # (1, 28) kernels with stride 2 produced a strided im2col view the GEMM refused (issue 14 item 3).
    ref, hal = twins(1, 8, (1, 28), stride=2)
    assert_forward_and_gradients_match(ref, hal, torch.randn(4, 1, 28, 28), TOL)


def test_empty_kernel_is_refused_like_torch():
    import halkit.hal as hal_ops
    import numpy as np

    with pytest.raises(ValueError, match="empty kernel"):
        hal_ops.conv2d(np.ones((1, 1, 4, 4), np.float32), np.ones((2, 1, 0, 3), np.float32))


def test_asymmetric_same_padding_is_refused():
    with pytest.raises(ValueError, match="asymmetric"):
        HALConv2d(2, 2, 2, padding="same")
