"""HALMaxPool2d, HALAvgPool2d, HALAdaptiveAvgPool2d against the torch layers they replace: outputs and input
gradients over their configurations, the HAL actually running them, dtypes the HAL lacks pooled by torch."""
import pytest
import torch
from torch import nn

from halkit.torch import HALAdaptiveAvgPool2d, HALAvgPool2d, HALMaxPool2d, convert, pooling

from twin_checks import assert_forward_and_gradients_match

TOL = dict(atol=1e-5, rtol=1e-5)

# (torch layer, input shape): ResNet's stem pool and head, ceil mode, dilation, asymmetric windows, stride
# None, unbatched input, an output size keeping one input size
CASES = [
    (nn.MaxPool2d(3, 2, 1), (8, 4, 32, 32)),
    (nn.MaxPool2d(2), (2, 3, 7, 9)),
    (nn.MaxPool2d((3, 2), (2, 1), (1, 0), dilation=(1, 2), ceil_mode=True), (2, 3, 11, 10)),
    (nn.MaxPool2d(3, 3, 1, ceil_mode=True), (3, 8, 8)),
    (nn.AvgPool2d(3, 2, 1), (2, 3, 9, 9)),
    (nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), (2, 3, 7, 5)),
    (nn.AvgPool2d((3, 1), 1, (1, 0)), (3, 6, 4)),
    (nn.AdaptiveAvgPool2d(1), (8, 16, 4, 4)),
    (nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 9)),
    (nn.AdaptiveAvgPool2d((None, 2)), (2, 3, 5, 7)),
]


def _hal_twin(layer):
    converted = convert(nn.Sequential(layer), inplace=False)[0]
    assert type(converted) in (HALMaxPool2d, HALAvgPool2d, HALAdaptiveAvgPool2d)
    return converted


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layer, shape", CASES, ids=lambda c: repr(c) if isinstance(c, nn.Module) else str(c))
def test_matches_the_torch_layer(layer, shape, dtype):
    hal = _hal_twin(layer)
    assert hal.extra_repr() == layer.extra_repr()  # the same configuration
    assert_forward_and_gradients_match(layer, hal, torch.randn(shape, dtype=dtype), TOL)


def test_the_hal_runs_the_pooling(monkeypatch):
    called = []

    class Spy:
        def __getattr__(self, name):
            called.append(name)
            return getattr(torch.ops.halkit, name)

    monkeypatch.setattr(pooling, "_halkit_ops", Spy())
    x = torch.randn(1, 2, 6, 6)
    for layer in (HALMaxPool2d(2), HALAvgPool2d(2), HALAdaptiveAvgPool2d(1)):
        layer(x)
    assert called == ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


@pytest.mark.parametrize("layer", [nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(2)], ids=repr)
def test_dtypes_the_hal_lacks_are_pooled_by_torch(layer):
    hal = _hal_twin(layer)
    for x in (torch.randn(1, 2, 4, 4, dtype=torch.bfloat16), torch.arange(32.0).reshape(1, 2, 4, 4).long()):
        if not isinstance(layer, nn.MaxPool2d) and x.dtype == torch.long:
            continue  # torch's own average pooling has no integer kernel
        torch.testing.assert_close(hal(x), layer(x))


def test_unsupported_configurations_stay_torch_layers():
    model = nn.Sequential(nn.MaxPool2d(2, return_indices=True), nn.AvgPool2d(2, divisor_override=3))
    converted = convert(model, inplace=False)
    assert type(converted[0]) is nn.MaxPool2d and type(converted[1]) is nn.AvgPool2d


def test_a_compiled_model_with_hal_pooling_matches_eager():
    model = convert(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(3, 2, 1), nn.AdaptiveAvgPool2d(1)))
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(torch.compile(model, backend="halkit")(x), model(x), **TOL)
