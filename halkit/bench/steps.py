"""What one timed call of a model does: an inference forward, a forward+backward, or one SGD training step.

Each builder returns a zero-argument callable for :func:`halkit.bench.compare` /
``loop_sampler``; it returns the model's output so a caller can check it against
a reference before timing.

``autocast`` (a torch dtype, e.g. ``torch.bfloat16``; None = off) runs the forward — and, in a training
step, the loss — under ``torch.autocast("cpu", dtype=autocast)`` and the backward outside it, as torch's
automatic-mixed-precision recipe does; bfloat16 has float32's exponent range, so no GradScaler.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn


def _autocast(dtype: torch.dtype | None):
    return contextlib.nullcontext() if dtype is None else torch.autocast("cpu", dtype=dtype)


def forward_step(model: nn.Module, *inputs, autocast: torch.dtype | None = None):
    """One forward under ``torch.no_grad()`` (inference latency)."""

    def step():
        with torch.no_grad(), _autocast(autocast):
            return model(*inputs)

    return step


def backward_step(model: nn.Module, *inputs):
    """Forward, then backward of ``output.sum()``: every parameter's (and any input's) gradient, accumulated."""

    def step():
        output = model(*inputs)
        output.sum().backward()
        return output

    return step


def training_step(model: nn.Module, inputs, target: torch.Tensor, lr: float = 1e-3,
                  autocast: torch.dtype | None = None):
    """One training step: forward, MSE loss against ``target``, backward, ``torch.optim.SGD`` update.

    ``inputs`` is one tensor or a tuple of them. Gradients are reset (set to None) at the start of each step,
    so after a step ``p.grad`` holds that step's gradients. With ``autocast`` the forward and the loss run
    under CPU autocast, the backward and the update outside it.
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with _autocast(autocast):
            output = model(*inputs)
            loss = nn.functional.mse_loss(output, target)
        loss.backward()
        optimizer.step()
        return output

    return step
