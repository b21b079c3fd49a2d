"""Small models the runtime tests compile, and helpers comparing compiled with eager."""
import torch
import torch.nn as nn

import halkit.runtime as rt

#: placement by the cost model alone: on a host-memory driver every supported node goes to the HAL, whatever
#: a measurement on this machine would say (tests of lowering and fusion must not depend on timing)
MODELLED = rt.PlacementPolicy(measure=False)


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 4))


def cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def encoder_layer():
    return nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation="gelu", batch_first=True)


def forward_and_grads(model, x):
    model.zero_grad()
    x = x.clone().requires_grad_(True)
    y = model(x)
    (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()  # non-uniform upstream grad
    return y.detach(), x.grad, [p.grad.clone() for p in model.parameters()]


def assert_same(compiled, eager, x, atol=1e-5):
    y_c, gx_c, g_c = forward_and_grads(compiled, x)
    y_e, gx_e, g_e = forward_and_grads(eager, x)
    torch.testing.assert_close(y_c, y_e, atol=atol, rtol=1e-4)
    torch.testing.assert_close(gx_c, gx_e, atol=atol, rtol=1e-4)
    for a, b in zip(g_c, g_e):
        torch.testing.assert_close(a, b, atol=atol, rtol=1e-4)
