"""Unmodified torch models trained on halkit match the same training on the CPU, step by step.

Each model is built once on the CPU from a seed, copied, and trained 20 steps with SGD and with Adam on
both devices from the same data: every step's loss must agree within 1e-5 relative. The optimizers take
torch's default path for the device (foreach: torch's per-tensor implementation, whose in-place updates
are halkit kernels) and the single-tensor path.
"""
import copy

import pytest
import torch
from torch import nn

import halkit
import halkit.torch.device as device

STEPS = 20
RELATIVE = 1e-5


class ConvNet(nn.Module):
    """Linear / ReLU / LayerNorm / Conv2d / GELU, composed with nn.Sequential."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.GELU(),
                                      nn.Flatten())
        self.head = nn.Sequential(nn.LayerNorm(8 * 7 * 7), nn.Linear(8 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x):
        return self.head(self.features(x))


def _transformer_layer():
    # The layer as torch builds it; eval() only switches dropout off, so both devices see the same function
    # (dropout's random mask cannot match across devices). Gradients flow as in training.
    return nn.TransformerEncoderLayer(64, 4, 128).eval()


MODELS = {"convnet": (ConvNet, (6, 3, 16, 16)), "transformer": (_transformer_layer, (10, 6, 64))}
OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.01),
    "sgd_momentum_single_tensor": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, foreach=False),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "adam_single_tensor": lambda p: torch.optim.Adam(p, lr=1e-3, foreach=False),
}


def _train(model, where: str, make_optimizer, input_shape) -> list[float]:
    model = copy.deepcopy(model).to(where)
    optimizer = make_optimizer(model.parameters())
    data = torch.Generator().manual_seed(1)
    x = torch.randn(input_shape, generator=data).to(where)
    target = torch.randn(model(x).shape, generator=data).to(where)
    losses = []
    for _ in range(STEPS):
        loss = nn.functional.mse_loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


CASES = [("convnet", "sgd"), ("convnet", "adam"), *(("transformer", name) for name in OPTIMIZERS)]


@pytest.mark.parametrize("model_name,optimizer", CASES, ids=[f"{m}-{o}" for m, o in CASES])
def test_training_matches_cpu(mock, model_name, optimizer):
    make_model, input_shape = MODELS[model_name]
    torch.manual_seed(0)
    model = make_model()
    expected = _train(model, "cpu", OPTIMIZERS[optimizer], input_shape)
    got = _train(model, "halkit", OPTIMIZERS[optimizer], input_shape)
    for step, (g, e) in enumerate(zip(got, expected)):
        assert abs(g - e) <= RELATIVE * abs(e), f"step {step}: loss {g} on halkit, {e} on cpu"
    assert expected[-1] < expected[0]  # it trained
    if model_name == "convnet":  # nothing of it, optimizer step included, left the device
        assert device.fallback_counts() == {}


def test_the_transformer_layer_falls_back_only_where_the_hal_has_no_op(mock):
    """The fallback list of TransformerEncoderLayer(64, 4, 128) in training mode: attention's guard for
    fully-masked rows (a boolean test and select) and dropout (a random boolean mask) — the HAL has no
    boolean dtype, comparison or select. Everything else runs on the device."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(64, 4, 128).to("halkit")
    loss = layer(torch.randn(10, 6, 64).to("halkit")).square().mean()
    loss.backward()
    assert set(device.fallback_counts()) == {
        "aten::isneginf.out", "aten::all.out", "aten::where.self_out",  # torch's _safe_softmax
        "aten::native_dropout", "aten::native_dropout_backward"}


def test_hal_layers_run_on_the_device(mock):
    """halkit.HALLinear & co moved with .to("halkit") run their torch.ops.halkit operators on the device."""
    torch.manual_seed(0)
    model = nn.Sequential(halkit.HALConv2d(3, 4, 3), nn.Flatten(), halkit.HALLayerNorm(4 * 6 * 6),
                          halkit.HALLinear(4 * 6 * 6, 5))
    on_device = copy.deepcopy(model).to("halkit")
    x = torch.randn(2, 3, 8, 8)
    expected, got = model(x), on_device(x.to("halkit"))
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-5, atol=1e-6)
    expected.square().sum().backward()
    got.square().sum().backward()
    for p, q in zip(model.parameters(), on_device.parameters()):
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-4, atol=1e-5)
    assert device.fallback_counts() == {}
