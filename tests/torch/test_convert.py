"""halkit.convert: swaps supported layers (sharing their parameters), leaves the rest alone."""
import torch
from torch import nn

import halkit
from halkit.torch import HALConv2d, HALLayerNorm, HALLinear, convert


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=2), nn.Conv2d(4, 4, 2, padding="same"),
            nn.Flatten()
        )
        self.head = nn.ModuleDict({"norm": nn.LayerNorm(36), "proj": nn.Linear(36, 5, bias=False)})
        self.block_norm = nn.LayerNorm((4, 3, 3))  # multi-dimensional: not supported

    def forward(self, x):
        h = self.features(x)
        h = h + self.block_norm(h.view(-1, 4, 3, 3)).flatten(1)
        return self.head["proj"](self.head["norm"](h))


def test_converts_supported_layers_recursively_and_keeps_the_rest():
    model = Net()
    params_before = dict(model.named_parameters())
    converted = convert(model)
    assert converted is model
    assert type(model.features[0]) is HALConv2d
    assert type(model.features[2]) is HALConv2d  # grouped convolutions run on the HAL too
    assert type(model.features[3]) is nn.Conv2d  # 'same' with an even kernel pads asymmetrically: left alone
    assert type(model.head["norm"]) is HALLayerNorm
    assert type(model.head["proj"]) is HALLinear and model.head["proj"].bias is None
    assert type(model.block_norm) is nn.LayerNorm
    # The same Parameter objects: an optimizer built before the conversion keeps working.
    for name, param in model.named_parameters():
        assert param is params_before[name]


def test_outputs_and_gradients_unchanged():
    reference = Net()
    model = convert(reference, inplace=False)
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)
    model(x).sum().backward()
    reference(x).sum().backward()
    for (name, p), p_ref in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, atol=1e-4, rtol=1e-5, msg=name)


def test_not_inplace_leaves_the_original_untouched():
    model = nn.Sequential(nn.Linear(4, 4))
    converted = convert(model, inplace=False)
    assert type(model[0]) is nn.Linear and type(converted[0]) is HALLinear
    assert converted[0].weight is not model[0].weight
    torch.testing.assert_close(converted[0].weight, model[0].weight)


def test_a_bare_layer_is_returned_converted():
    linear = nn.Linear(3, 2)
    converted = halkit.convert(linear)
    assert type(converted) is HALLinear and converted.weight is linear.weight


def test_supports_matches_what_the_constructors_accept():
    assert HALConv2d.supports(nn.Conv2d(2, 2, 3, padding="same"))
    assert not HALConv2d.supports(nn.Conv2d(2, 2, 2, padding="same"))
    assert HALConv2d.supports(nn.Conv2d(2, 2, 3, groups=2))
    assert not HALLayerNorm.supports(nn.LayerNorm((2, 3)))


def test_training_mode_is_kept():
    model = nn.Sequential(nn.Linear(2, 2)).eval()
    assert not convert(model)[0].training


def test_leaves_unsupported_dtypes_subclasses_and_hal_layers_alone():
    class MyLinear(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    model = nn.Sequential(nn.Linear(2, 2).half(), MyLinear(2, 2), HALLinear(2, 2))
    kept = list(model)
    convert(model)
    assert all(a is b for a, b in zip(model, kept))


def test_converted_model_state_dict_loads_into_the_original_architecture():
    converted = convert(Net(), inplace=False)
    fresh = Net()
    fresh.load_state_dict(converted.state_dict())
    x = torch.randn(1, 3, 5, 5)
    torch.testing.assert_close(fresh(x), converted(x), atol=1e-5, rtol=1e-5)
