"""The ``torch.ops.halkit`` operators: each HAL op registered with torch.library.

Every operator gets its CPU kernel from :mod:`halkit.torch.kernels` (a HAL call
on the current backend), a fake kernel (shapes and dtypes only, so
torch.compile, export and FX tracing see through it) and, for the forward
ops, an autograd formula from :mod:`halkit.torch.gradients` whose backward
calls these same operators, so AOTAutograd can trace it.

Eager code does not go through these operators: it calls the kernels from
autograd Functions directly (see :mod:`halkit.torch.functional`), which costs
a fraction of a dispatcher round trip. The operators are what compiled graphs,
exporters and the graph compiler (``halkit.runtime``) see.

Importing this module registers the operators once per process.
"""
from __future__ import annotations

import functools

import torch

from . import gradients, kernels
from ..hal.im2col import output_size

NAMESPACE = "halkit"

# FRAGMENT, not DEF: other halkit packages may add operators to the same namespace.
_lib = torch.library.Library(NAMESPACE, "FRAGMENT")

#: names of the operators this module registers, in registration order.
REGISTERED: list[str] = []


def _register(name, schema, fake, setup_context=None, backward=None):
    _lib.define(f"{name}{schema}", tags=(torch.Tag.pt2_compliant_tag,))
    REGISTERED.append(name)
    qualname = f"{NAMESPACE}::{name}"
    torch.library.impl(qualname, "CPU", lib=_lib)(getattr(kernels, name))
    torch.library.register_fake(qualname, fake, lib=_lib)
    if backward is not None:
        torch.library.register_autograd(
            qualname, functools.partial(backward, torch.ops.halkit), setup_context=setup_context, lib=_lib
        )


# --- fake kernels: output metadata only (the real kernels return contiguous tensors) ---

def _same_dtype(*tensors):
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        if t is not None:
            torch._check(t.dtype == dtype, lambda: f"halkit ops take operands of one dtype, got {dtype} and {t.dtype}")


def _fake_linear(x, weight, bias=None, activation=None):
    _same_dtype(x, weight, bias)
    torch._check(x.shape[-1] == weight.shape[1], lambda: f"x has {x.shape[-1]} features, weight expects {weight.shape[1]}")
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


def _fake_matmul(a, b, trans_a=False, trans_b=False):
    _same_dtype(a, b)
    rows, inner_a = (a.shape[1], a.shape[0]) if trans_a else (a.shape[0], a.shape[1])
    inner_b, cols = (b.shape[1], b.shape[0]) if trans_b else (b.shape[0], b.shape[1])
    torch._check(inner_a == inner_b, lambda: f"matmul: inner dimensions differ ({inner_a} vs {inner_b})")
    return a.new_empty((rows, cols))


def _fake_elementwise(a, b=None):
    _same_dtype(a, b)
    return a.new_empty(a.shape)


def _fake_add_bias(x, b):
    _same_dtype(x, b)
    torch._check(b.dim() == 1 and b.shape[0] == x.shape[-1], lambda: f"b must have shape ({x.shape[-1]},), got {tuple(b.shape)}")
    return x.new_empty(x.shape)


def _fake_softmax(x, dim=-1):
    return x.new_empty(x.shape)


def _fake_sum_rows(x):
    return x.new_empty((x.shape[-1],))


def _fake_layer_norm(x, weight=None, bias=None, eps=1e-5):
    _same_dtype(x, weight, bias)
    return x.new_empty(x.shape)


def _fake_layer_norm_backward(grad, x, weight=None, eps=1e-5):
    _same_dtype(x, grad, weight)
    return x.new_empty(x.shape), x.new_empty((x.shape[-1],)), x.new_empty((x.shape[-1],))


def _fake_conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation=None):
    _same_dtype(x, weight, bias)
    torch._check(groups == 1, lambda: f"halkit conv2d supports groups=1 only, got {groups}")
    torch._check(x.shape[1] == weight.shape[1], lambda: f"x has {x.shape[1]} channels, weight expects {weight.shape[1]}")
    height, width = (
        output_size(size, k, s, p, d)
        for size, k, s, p, d in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation)
    )
    return x.new_empty((x.shape[0], weight.shape[0], height, width))


def _fake_conv2d_input_grad(grad, weight, input_size, stride, padding, dilation):
    return grad.new_empty(input_size)


def _fake_conv2d_weight_grad(grad, x, kernel_size, stride, padding, dilation):
    return grad.new_empty((grad.shape[1], x.shape[1], *kernel_size))


_register("linear", "(Tensor x, Tensor weight, Tensor? bias=None, str? activation=None) -> Tensor",
          _fake_linear, gradients.linear_setup_context, gradients.linear_backward)
_register("matmul", "(Tensor a, Tensor b, bool trans_a=False, bool trans_b=False) -> Tensor",
          _fake_matmul, gradients.matmul_setup_context, gradients.matmul_backward)
_register("relu", "(Tensor x) -> Tensor", _fake_elementwise, gradients.unary_setup_context, gradients.relu_backward)
_register("gelu", "(Tensor x) -> Tensor", _fake_elementwise, gradients.unary_setup_context, gradients.gelu_backward)
_register("softmax", "(Tensor x, int dim=-1) -> Tensor",
          _fake_softmax, gradients.softmax_setup_context, gradients.softmax_backward)
_register("add", "(Tensor a, Tensor b) -> Tensor", _fake_elementwise, None, gradients.add_backward)
_register("mul", "(Tensor a, Tensor b) -> Tensor", _fake_elementwise, gradients.mul_setup_context, gradients.mul_backward)
_register("add_bias", "(Tensor x, Tensor b) -> Tensor", _fake_add_bias, None, gradients.add_bias_backward)
_register("sum_rows", "(Tensor x) -> Tensor", _fake_sum_rows, gradients.sum_rows_setup_context, gradients.sum_rows_backward)
_register("relu_backward", "(Tensor grad, Tensor x) -> Tensor", _fake_elementwise)
_register("gelu_backward", "(Tensor grad, Tensor x) -> Tensor", _fake_elementwise)
_register("layer_norm", "(Tensor x, Tensor? weight=None, Tensor? bias=None, float eps=1e-05) -> Tensor",
          _fake_layer_norm, gradients.layer_norm_setup_context, gradients.layer_norm_backward)
_register("layer_norm_backward", "(Tensor grad, Tensor x, Tensor? weight=None, float eps=1e-05) -> (Tensor, Tensor, Tensor)",
          _fake_layer_norm_backward)
_register("conv2d", "(Tensor x, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, "
          "int[2] dilation=1, int groups=1, str? activation=None) -> Tensor",
          _fake_conv2d, gradients.conv2d_setup_context, gradients.conv2d_backward)
_register("conv2d_input_grad", "(Tensor grad, Tensor weight, SymInt[4] input_size, int[2] stride, int[2] padding, "
          "int[2] dilation) -> Tensor", _fake_conv2d_input_grad)
_register("conv2d_weight_grad", "(Tensor grad, Tensor x, int[2] kernel_size, int[2] stride, int[2] padding, "
          "int[2] dilation) -> Tensor", _fake_conv2d_weight_grad)
