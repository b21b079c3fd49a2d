"""Backward formulas, written once for both routes into the HAL.

Each ``*_backward(ops, ctx, grad)`` takes the op provider as its first
argument: :mod:`halkit.torch.kernels` when an eager autograd Function runs it,
``torch.ops.halkit`` when the registered operators run it (under
torch.compile, AOTAutograd traces these calls into the backward graph, so
they must stay traceable: HAL work goes through ``ops``, shape glue through
torch views). The ``*_setup_context`` functions save what backward needs and
have the signature ``torch.library.register_autograd`` expects.

Gradients are first-order: the backward pieces (matmul aside) have no
autograd formula of their own.
"""
from __future__ import annotations

import math


def _needs_grad(ctx, *indices):
    """ctx.needs_input_grad at ``indices``; traced contexts may report fewer inputs (trailing Nones dropped)."""
    needs = ctx.needs_input_grad
    return tuple(i < len(needs) and needs[i] for i in indices)


def linear_setup_context(ctx, inputs, output):
    x, weight, bias, activation = inputs
    ctx.activation = activation
    # relu's mask is recoverable from its output (y > 0 ⟺ pre-activation > 0); gelu's is not,
    # so gelu recomputes the pre-activation in backward instead of keeping a second tensor alive.
    ctx.save_for_backward(x, weight, bias, output if activation == "relu" else None)


def linear_backward(ops, ctx, grad):
    x, weight, bias, output = ctx.saved_tensors
    if ctx.activation == "relu":
        grad = ops.relu_backward(grad, output)
    elif ctx.activation == "gelu":
        grad = ops.gelu_backward(grad, ops.linear(x, weight, bias, None))
    need_x, need_w, need_b = _needs_grad(ctx, 0, 1, 2)
    # (..., out) → (rows, out) is a view for a contiguous grad; the GEMMs read weight and
    # x through transpose flags, so no transposed copy is made.
    rows = math.prod(x.shape[:-1])
    grad_rows = grad.reshape(rows, weight.shape[0])
    grad_x = ops.matmul(grad_rows, weight, False, False).reshape(x.shape) if need_x else None
    grad_w = ops.matmul(grad_rows, x.reshape(rows, weight.shape[1]), True, False) if need_w else None
    grad_b = ops.sum_rows(grad_rows) if need_b and bias is not None else None
    return grad_x, grad_w, grad_b, None


def matmul_setup_context(ctx, inputs, output):
    a, b, trans_a, trans_b = inputs
    ctx.trans = (trans_a, trans_b)
    ctx.save_for_backward(a, b)


def matmul_backward(ops, ctx, grad):
    """For C = op(a) @ op(b): each gradient is one GEMM, transposes expressed as flags."""
    a, b = ctx.saved_tensors
    trans_a, trans_b = ctx.trans
    grad_a = grad_b = None
    need_a, need_b = _needs_grad(ctx, 0, 1)
    if need_a:
        grad_a = ops.matmul(b, grad, trans_b, True) if trans_a else ops.matmul(grad, b, False, not trans_b)
    if need_b:
        grad_b = ops.matmul(grad, a, True, trans_a) if trans_b else ops.matmul(a, grad, not trans_a, False)
    return grad_a, grad_b, None, None


def unary_setup_context(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])


def relu_backward(ops, ctx, grad):
    (x,) = ctx.saved_tensors
    return ops.relu_backward(grad, x)


def gelu_backward(ops, ctx, grad):
    (x,) = ctx.saved_tensors
    return ops.gelu_backward(grad, x)


def softmax_setup_context(ctx, inputs, output):
    ctx.dim = inputs[1]
    ctx.save_for_backward(output)


def softmax_backward(ops, ctx, grad):
    # A row reduction the HAL does not have: expressed with torch ops (runs on the CPU).
    (y,) = ctx.saved_tensors
    return y * (grad - (grad * y).sum(ctx.dim, keepdim=True)), None


def add_backward(ops, ctx, grad):
    return grad, grad


def add_bias_backward(ops, ctx, grad):
    need_x, need_b = _needs_grad(ctx, 0, 1)
    return grad if need_x else None, ops.sum_rows(grad) if need_b else None


def mul_setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def mul_backward(ops, ctx, grad):
    a, b = ctx.saved_tensors
    need_a, need_b = _needs_grad(ctx, 0, 1)
    return ops.mul(grad, b) if need_a else None, ops.mul(grad, a) if need_b else None


def sum_rows_setup_context(ctx, inputs, output):
    ctx.input_shape = inputs[0].shape


def sum_rows_backward(ops, ctx, grad):
    return grad.expand(ctx.input_shape)


def layer_norm_setup_context(ctx, inputs, output):
    x, weight, bias, eps = inputs
    ctx.eps = eps
    ctx.has_bias = bias is not None
    ctx.save_for_backward(x, weight)


def layer_norm_backward(ops, ctx, grad):
    x, weight = ctx.saved_tensors
    grad_x, grad_w, grad_b = ops.layer_norm_backward(grad, x, weight, ctx.eps)
    return (
        grad_x,
        grad_w if weight is not None else None,
        grad_b if ctx.has_bias else None,
        None,
    )


def conv2d_setup_context(ctx, inputs, output):
    x, weight, bias, stride, padding, dilation, groups, activation = inputs
    ctx.geometry = (stride, padding, dilation)
    ctx.activation = activation
    ctx.save_for_backward(x, weight, bias, output if activation == "relu" else None)


def conv2d_backward(ops, ctx, grad):
    """grad_x and grad_w are one HAL GEMM each on im2col columns; grad_b is a torch sum over N, H, W."""
    x, weight, bias, output = ctx.saved_tensors
    stride, padding, dilation = ctx.geometry
    if ctx.activation == "relu":
        grad = ops.relu_backward(grad, output)
    elif ctx.activation == "gelu":
        grad = ops.gelu_backward(grad, ops.conv2d(x, weight, bias, stride, padding, dilation, 1, None))
    need_x, need_w, need_b = _needs_grad(ctx, 0, 1, 2)
    grad_x = ops.conv2d_input_grad(grad, weight, x.shape, stride, padding, dilation) if need_x else None
    grad_w = ops.conv2d_weight_grad(grad, x, weight.shape[2:], stride, padding, dilation) if need_w else None
    grad_b = grad.sum((0, 2, 3)) if need_b and bias is not None else None
    return grad_x, grad_w, grad_b, None, None, None, None, None
