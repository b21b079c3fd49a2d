"""``linear``, ``conv2d``, ``layer_norm``: the HAL ops as differentiable torch functions.

Each picks the cheapest correct route:

* under torch.compile / export, FX or any dispatch mode (fake tensors,
  make_fx), for a tensor subclass, or for a tensor on another device (the
  ``halkit`` PyTorch device): the registered ``torch.ops.halkit`` operator,
  which those systems trace and the dispatcher sends to the right device;
* eager linear on a driver that publishes C kernels (``Driver.host_kernels``, the
  native one): HALLinear's C++ route, forward and backward without Python
  (:func:`halkit.torch.autograd.host_linear`);
* eager with gradients wanted: an autograd Function that calls the HAL kernel
  directly (same backward formula as the operator, no dispatcher round trip);
* eager without gradients (inference, ``torch.no_grad``): the kernel itself.

Under ``torch.autocast("cpu", dtype)`` the layers behave as torch's do: linear
and conv2d return ``dtype``, layer_norm stays float32 — a bfloat16 activation
from a torch layer is accepted, not refused. Eager linear under bfloat16
autocast computes in bfloat16 where the driver has bfloat16 GEMMs
(:mod:`halkit.torch.bf16`); everywhere else (conv2d, a traced linear, a driver
without them) the layer computes in float32 and casts its result.
"""
from __future__ import annotations

import torch

from halkit.hal.checks import conv_padding

from . import bf16, ops, tensor_ops  # noqa: F401  (importing ops registers torch.ops.halkit.*)
from .autograd import Conv2dFunction, LayerNormFunction, LinearFunction, apply, host_linear

_halkit_ops = torch.ops.halkit


def _traced(x) -> bool:
    """True when the call must go through the registered operator (a tracer, a subclass, another device)."""
    return (torch.compiler.is_compiling() or type(x) is not torch.Tensor or not x.is_cpu
            or torch._C._len_torch_dispatch_stack() > 0)


def _wants_grad(x, weight, bias) -> bool:
    # Spelled out rather than any(...) over a generator: this runs on every call (~1 µs saved).
    return torch.is_grad_enabled() and (
        x.requires_grad or (weight is not None and weight.requires_grad) or (bias is not None and bias.requires_grad)
    )


def _autocast_dtype(x) -> torch.dtype | None:
    """The dtype torch's own layer would return under CPU autocast (None when autocast is off)."""
    if torch.is_autocast_enabled("cpu"):
        return torch.get_autocast_dtype("cpu")
    return None


def _float32(*tensors):
    return tuple(None if t is None else t.float() if t.dtype in (torch.bfloat16, torch.float16) else t
                 for t in tensors)


def linear(x, weight, bias=None, activation=None):
    """activation(x @ weight.T + bias) through the HAL; activation is None, "relu" or "gelu"."""
    # The route checks of layer_norm and conv2d below, spelled out: every linear layer of a model runs this.
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
        if dtype == torch.bfloat16 and not _traced(x) and bf16.runs_here():
            return bf16.linear(x, weight, bias, activation)
        with torch.autocast("cpu", enabled=False):
            return linear(*_float32(x, weight, bias), activation).to(dtype)
    if (type(x) is not torch.Tensor or not x.is_cpu or torch.compiler.is_compiling()
            or torch._C._len_torch_dispatch_stack() > 0):
        return _halkit_ops.linear.default(x, weight, bias, activation)
    output = host_linear(x, weight, bias, activation)
    if output is not None:
        return output
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return apply(LinearFunction, x, weight, bias, activation)
    return tensor_ops.linear(x, weight, bias, activation)


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Layer norm over the last axis through the HAL (biased variance, like torch)."""
    if _autocast_dtype(x) is not None:  # autocast runs layer_norm in float32, as torch does
        with torch.autocast("cpu", enabled=False):
            return layer_norm(*_float32(x, weight, bias), eps)
    if _traced(x):
        return _halkit_ops.layer_norm.default(x, weight, bias, eps)
    if _wants_grad(x, weight, bias):
        return apply(LayerNormFunction, x, weight, bias, eps)
    return tensor_ops.layer_norm(x, weight, bias, eps)


def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation=None):
    """2-D convolution through the HAL (NCHW, or unbatched CHW as torch takes it), optionally followed by
    "relu" or "gelu"; padding is an int, a pair, "valid" or "same"."""
    if x.dim() == 3:
        return conv2d(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups, activation).squeeze(0)
    cast_to = _autocast_dtype(x)
    if cast_to is not None:
        with torch.autocast("cpu", enabled=False):
            x, weight, bias = _float32(x, weight, bias)
            return conv2d(x, weight, bias, stride, padding, dilation, groups, activation).to(cast_to)
    stride, dilation = _pair(stride), _pair(dilation)
    padding = list(conv_padding(padding, weight.shape[2:], dilation))
    if _traced(x):
        return _halkit_ops.conv2d.default(x, weight, bias, stride, padding, dilation, groups, activation)
    if _wants_grad(x, weight, bias):
        return apply(Conv2dFunction, x, weight, bias, stride, padding, dilation, groups, activation)
    return tensor_ops.conv2d(x, weight, bias, stride, padding, dilation, groups, activation)


def _pair(value) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)
