"""Checks shared by the module tests: a HAL module against its torch twin with equal parameters."""
import torch
from torch import nn


def _assert_same_parameters(hal, ref, attribute, tol):
    pairs = list(zip(hal.named_parameters(), ref.parameters(), strict=True))
    for (name, p_hal), p_ref in pairs:
        torch.testing.assert_close(getattr(p_hal, attribute), getattr(p_ref, attribute), **tol,
                                   msg=lambda m, name=name: f"parameter {name!r} {attribute}: {m}")


def assert_forward_and_gradients_match(ref, hal, x, tol):
    """The same output, and the same gradient for the input and for every parameter."""
    x_hal = x.detach().clone().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    y, y_ref = hal(x_hal), ref(x_ref)
    torch.testing.assert_close(y, y_ref, **tol)
    grad_out = torch.randn_like(y)
    y.backward(grad_out)
    y_ref.backward(grad_out)
    torch.testing.assert_close(x_hal.grad, x_ref.grad, **tol)
    _assert_same_parameters(hal, ref, "grad", tol)


def assert_sgd_steps_match(ref, hal, x, target, steps, tol, **sgd):
    """After the same SGD steps on an MSE loss, every parameter is the same."""
    for module in (ref, hal):
        optimizer = torch.optim.SGD(module.parameters(), **sgd)
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.mse_loss(module(x), target).backward()
            optimizer.step()
    _assert_same_parameters(hal, ref, "data", tol)
