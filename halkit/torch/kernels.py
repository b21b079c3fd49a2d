"""Tensor-level kernels: each runs one HAL op (or a short sequence of them) on CPU tensors.

These are the implementations behind both routes into the HAL: the eager
autograd Functions call them directly, and the ``torch.ops.halkit`` operators
register them as their CPU kernels. Nothing here knows about autograd. Every
kernel returns new tensors (the HAL returns new arrays), never an input or a
view of one, as torch's custom-op contract requires.

Functions with the same names and signatures as the ``torch.ops.halkit`` ops
let one backward formula (:mod:`halkit.torch.gradients`) serve both routes.
"""
from __future__ import annotations

import math

import numpy as np

import halkit.hal as hal

from .arrays import dense, matrix, optional_dense, tensor
from ..hal.im2col import col2im, im2col, output_size


def linear(x, weight, bias=None, activation=None):
    return tensor(hal.linear(dense("x", x), matrix("weight", weight), optional_dense("bias", bias), activation))


def matmul(a, b, trans_a=False, trans_b=False):
    return tensor(hal.matmul(matrix("a", a), matrix("b", b), trans_a, trans_b))


def relu(x):
    return tensor(hal.relu(dense("x", x)))


def gelu(x):
    return tensor(hal.gelu(dense("x", x)))


def softmax(x, dim=-1):
    return tensor(hal.softmax(dense("x", x), dim))


def add(a, b):
    return tensor(hal.add(dense("a", a), dense("b", b)))


def mul(a, b):
    return tensor(hal.mul(dense("a", a), dense("b", b)))


def add_bias(x, b):
    return tensor(hal.add_bias(dense("x", x), dense("b", b)))


def sum_rows(x):
    return tensor(hal.sum_rows(dense("x", x)))


def relu_backward(grad, x):
    return tensor(hal.relu_backward(dense("grad", grad), dense("x", x)))


def gelu_backward(grad, x):
    return tensor(hal.gelu_backward(dense("grad", grad), dense("x", x)))


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    return tensor(hal.layer_norm(dense("x", x), optional_dense("weight", weight), optional_dense("bias", bias), eps))


def layer_norm_backward(grad, x, weight=None, eps=1e-5):
    """(grad_x, grad_weight, grad_bias) of a last-axis layer norm.

    The normalised input and the parameter gradients come from HAL ops. The
    HAL has no reduction along the last axis, so the per-row statistics of
    grad_x are NumPy on the host (a ``hal.layer_norm_backward`` would replace them).
    """
    g, xa = dense("grad", grad), dense("x", x)
    x_hat = hal.layer_norm(xa, None, None, eps)
    grad_weight = hal.sum_rows(hal.mul(g, x_hat))
    grad_bias = hal.sum_rows(g)
    g_hat = g if weight is None else g * dense("weight", weight)
    rstd = 1.0 / np.sqrt(xa.var(axis=-1, keepdims=True) + xa.dtype.type(eps))
    grad_x = rstd * (
        g_hat - g_hat.mean(axis=-1, keepdims=True) - x_hat * (g_hat * x_hat).mean(axis=-1, keepdims=True)
    )
    return tensor(np.ascontiguousarray(grad_x, dtype=xa.dtype)), tensor(grad_weight), tensor(grad_bias)


def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation=None):
    """NCHW convolution through hal.conv2d, then the activation as a second HAL op (not fused in one pass)."""
    y = hal.conv2d(dense("x", x), dense("weight", weight), optional_dense("bias", bias), stride, padding, dilation, groups)
    if activation is not None:
        y = _ACTIVATIONS[activation](y)
    return tensor(y)


def conv2d_input_grad(grad, weight, input_size, stride, padding, dilation):
    """grad_x = col2im(gradᵀ-as-rows @ W): one HAL GEMM, the scatter back to NCHW in NumPy."""
    w, g = dense("weight", weight), dense("grad", grad)
    _check_grad_shape(g, input_size, w.shape, stride, padding, dilation)
    grad_cols = hal.matmul(_channels_by_positions(g), w.reshape(w.shape[0], -1), trans_a=True)
    return tensor(col2im(grad_cols, tuple(input_size), w.shape[2:], stride, padding, dilation))


def conv2d_weight_grad(grad, x, kernel_size, stride, padding, dilation):
    """grad_w = grad (O × N·P) @ im2col(x) (N·P × C·kh·kw): one HAL GEMM on the unfolded input."""
    xa, g = dense("x", x), dense("grad", grad)
    _check_grad_shape(g, xa.shape, (g.shape[1], xa.shape[1], *kernel_size), stride, padding, dilation)
    cols = im2col(xa, tuple(kernel_size), stride, padding, dilation)
    grad_w = hal.matmul(_channels_by_positions(g), cols)
    return tensor(grad_w.reshape(g.shape[1], xa.shape[1], *kernel_size))


def _check_grad_shape(g, input_size, weight_size, stride, padding, dilation):
    expected = (input_size[0], weight_size[0]) + tuple(
        output_size(*geometry) for geometry in zip(input_size[2:], weight_size[2:], stride, padding, dilation)
    )
    if g.shape != expected:
        raise ValueError(f"grad has shape {g.shape}; the convolution's output shape is {expected}")


def _channels_by_positions(g: np.ndarray) -> np.ndarray:
    """(N, O, Ho, Wo) → (O, N·Ho·Wo): a copy of the (small) output gradient, a view when N == 1."""
    n, o = g.shape[:2]
    positions = math.prod(g.shape[2:])
    return np.ascontiguousarray(g.reshape(n, o, positions).transpose(1, 0, 2)).reshape(o, n * positions)


_ACTIVATIONS = {"relu": hal.relu, "gelu": hal.gelu}
