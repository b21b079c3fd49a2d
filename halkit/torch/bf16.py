"""Linear layers under ``torch.autocast("cpu", dtype=torch.bfloat16)``: bfloat16 GEMMs through the HAL.

torch's autocast runs ``nn.Linear`` as a bfloat16 GEMM (inputs, weight and bias cast to bfloat16, a
bfloat16 result) and so does HALLinear, on any driver that declares bfloat16 GEMMs
(``capabilities().supports("gemm", "bfloat16")``): the native driver's AVX512_BF16 dot products where the
CPU has them, float32 sums elsewhere. Like torch's:

* the casts are ordinary differentiable ``Tensor.to`` calls, so float32 parameters receive float32
  gradients;
* the backward GEMMs (grad·W, gradᵀ·x) run in bfloat16 too; the bias gradient is summed in float32 and
  rounded once;
* a fused activation is applied to the bfloat16 result, as torch applies ``relu(linear(x))``.

Tensors cross into the HAL without copies (:func:`halkit.torch.arrays.host_view`): a bfloat16 tensor's bytes
are viewed as an ``ml_dtypes.bfloat16`` array (NumPy has no bfloat16 of its own, so ``Tensor.numpy()`` refuses
them).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from halkit import hal
from halkit.hal.opset import BFLOAT16
from halkit.hal.registry import active

from .arrays import host_tensor as tensor
from .arrays import host_view as array

_ACTIVATIONS = {None: lambda y: y, "relu": torch.relu, "gelu": F.gelu}


def runs_here() -> bool:
    """True when the current driver computes GEMMs in bfloat16."""
    return active().capabilities().supports("gemm", BFLOAT16)


class LinearFunction(torch.autograd.Function):
    """x @ weight.T + bias with bfloat16 tensors; both backward GEMMs in bfloat16."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return tensor(hal.linear(array(x), array(weight), None if bias is None else array(bias)))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        rows = math.prod(x.shape[:-1])  # not reshape(-1, ...): ambiguous when a size is 0
        g = array(grad).reshape(rows, weight.shape[0])
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = tensor(hal.matmul(g, array(weight))).reshape(x.shape)
        if ctx.needs_input_grad[1]:
            grad_w = tensor(hal.matmul(g, array(x).reshape(rows, weight.shape[1]), True, False))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = tensor(hal.cast(hal.sum_rows(hal.cast(g, np.float32)), BFLOAT16))
        return grad_x, grad_w, grad_b


def linear(x, weight, bias=None, activation=None):
    """activation(x @ weight.T + bias) computed in bfloat16, as torch's autocast computes nn.Linear."""
    x, weight = x.to(torch.bfloat16), weight.to(torch.bfloat16)
    bias = None if bias is None else bias.to(torch.bfloat16)
    with torch.autocast("cpu", enabled=False):  # the casts above are recorded; nothing below re-casts
        return _ACTIVATIONS[activation](LinearFunction.apply(x, weight, bias))
