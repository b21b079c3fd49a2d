"""``linear``, ``conv2d``, ``layer_norm``: the HAL ops as differentiable torch functions.

Each picks the cheapest correct route:

* under torch.compile / export, FX or any dispatch mode (fake tensors,
  make_fx), or for a tensor subclass: the registered ``torch.ops.halkit``
  operator, which those systems can trace;
* eager with gradients wanted: an autograd Function that calls the HAL kernel
  directly (same backward formula as the operator, no dispatcher round trip);
* eager without gradients (inference, ``torch.no_grad``): the kernel itself.
"""
from __future__ import annotations

import torch

from . import kernels, ops  # noqa: F401  (importing ops registers torch.ops.halkit.*)
from .autograd import Conv2dFunction, LayerNormFunction, LinearFunction

_halkit_ops = torch.ops.halkit


def _traced(x) -> bool:
    """True when the call must go through the registered operator to be seen by a tracer."""
    return torch.compiler.is_compiling() or type(x) is not torch.Tensor or torch._C._len_torch_dispatch_stack() > 0


def _wants_grad(x, weight, bias) -> bool:
    # Spelled out rather than any(...) over a generator: this runs on every call (~1 µs saved).
    return torch.is_grad_enabled() and (
        x.requires_grad or (weight is not None and weight.requires_grad) or (bias is not None and bias.requires_grad)
    )


def linear(x, weight, bias=None, activation=None):
    """activation(x @ weight.T + bias) through the HAL; activation is None, "relu" or "gelu"."""
    if _traced(x):
        return _halkit_ops.linear.default(x, weight, bias, activation)
    if _wants_grad(x, weight, bias):
        return LinearFunction.apply(x, weight, bias, activation)
    return kernels.linear(x, weight, bias, activation)


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Layer norm over the last axis through the HAL (biased variance, like torch)."""
    if _traced(x):
        return _halkit_ops.layer_norm.default(x, weight, bias, eps)
    if _wants_grad(x, weight, bias):
        return LayerNormFunction.apply(x, weight, bias, eps)
    return kernels.layer_norm(x, weight, bias, eps)


def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation=None):
    """NCHW 2-D convolution (groups=1) through the HAL, optionally followed by "relu" or "gelu"."""
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    if _traced(x):
        return _halkit_ops.conv2d.default(x, weight, bias, stride, padding, dilation, groups, activation)
    if _wants_grad(x, weight, bias):
        return Conv2dFunction.apply(x, weight, bias, stride, padding, dilation, groups, activation)
    return kernels.conv2d(x, weight, bias, stride, padding, dilation, groups, activation)


def _pair(value) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)

