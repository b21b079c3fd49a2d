"""Tensor-level ops: each runs one HAL op on CPU tensors.

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

import halkit.hal as hal

from .arrays import dense, indices, matrix, optional_dense, tensor


def linear(x, weight, bias=None, activation=None):
    return tensor(hal.linear(dense("x", x), matrix("weight", weight), optional_dense("bias", bias), activation))


def linear_grads(grad, x, weight, need_x=True, need_w=True, need_b=True):
    """(grad_x, grad_w, grad_b) of ``x @ weight.T + b`` given the output gradient, each None unless asked for.

    The same two GEMMs and row sum as :func:`halkit.torch.gradients.linear_grads` composes from ``matmul`` and
    ``sum_rows``, with each tensor converted once instead of once per op: at batch 1 a conversion costs
    about what a GEMM does, and this runs in every eager backward of every linear layer.
    """
    g = dense("grad", grad)
    batched = g.ndim != 2  # (..., features) → (rows, features): views of C-contiguous arrays
    if batched:
        rows = math.prod(x.shape[:-1])  # not reshape(-1, ...): ambiguous when a size is 0
        g = g.reshape(rows, weight.shape[0])
    grad_x = grad_w = grad_b = None
    if need_x:
        grad_x = tensor(hal.matmul(g, matrix("weight", weight)))
        if batched:
            grad_x = grad_x.reshape(x.shape)
    if need_w:
        x_rows = dense("x", x).reshape(rows, weight.shape[1]) if batched else matrix("x", x)
        grad_w = tensor(hal.matmul(g, x_rows, True, False))
    if need_b:
        grad_b = tensor(hal.sum_rows(g))
    return grad_x, grad_w, grad_b


def matmul(a, b, trans_a=False, trans_b=False):
    return tensor(hal.matmul(matrix("a", a), matrix("b", b), trans_a, trans_b))


def bmm(a, b, trans_a=False, trans_b=False):
    return tensor(hal.bmm(dense("a", a), dense("b", b), trans_a, trans_b))


def _unary(op):
    fn = getattr(hal, op)

    def kernel(x):
        return tensor(fn(dense("x", x)))
    kernel.__name__ = op
    return kernel


def _binary(op, first, second):
    fn = getattr(hal, op)

    def kernel(a, b):
        return tensor(fn(dense(first, a), dense(second, b)))
    kernel.__name__ = op
    return kernel


relu, gelu, tanh, sigmoid, silu, hardswish = map(_unary, ("relu", "gelu", "tanh", "sigmoid", "silu", "hardswish"))
add, mul, div = (_binary(op, "a", "b") for op in ("add", "mul", "div"))
relu_backward, gelu_backward, silu_backward, hardswish_backward = (
    _binary(op, "grad", "x") for op in ("relu_backward", "gelu_backward", "silu_backward", "hardswish_backward"))
tanh_backward, sigmoid_backward = (_binary(op, "grad", "y") for op in ("tanh_backward", "sigmoid_backward"))


def softmax(x, dim=-1):
    return tensor(hal.softmax(dense("x", x), dim))


def softmax_backward(grad, y, dim=-1):
    return tensor(hal.softmax_backward(dense("grad", grad), dense("y", y), dim))


def add_bias(x, b):
    return tensor(hal.add_bias(dense("x", x), dense("b", b)))


def sum_rows(x):
    return tensor(hal.sum_rows(dense("x", x)))


def sum(x, dims=None, keepdim=False):  # noqa: A001 - aten's name
    return tensor(hal.sum(dense("x", x), _axes(dims), keepdim))


def mean(x, dims=None, keepdim=False):
    return tensor(hal.mean(dense("x", x), _axes(dims), keepdim))


def _axes(dims):
    return None if dims is None or len(dims) == 0 else tuple(dims)


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    return tensor(hal.layer_norm(dense("x", x), optional_dense("weight", weight), optional_dense("bias", bias), eps))


def layer_norm_backward(grad, x, weight=None, eps=1e-5):
    """(grad_x, grad_weight, grad_bias) of a last-axis layer norm, one HAL op."""
    return tuple(map(tensor, hal.layer_norm_backward(dense("grad", grad), dense("x", x),
                                                     optional_dense("weight", weight), eps)))


def batch_norm(x, mean, var, weight=None, bias=None, eps=1e-5):
    return tensor(hal.batch_norm(dense("x", x), dense("mean", mean), dense("var", var),
                                 optional_dense("weight", weight), optional_dense("bias", bias), eps))


def batch_norm_stats(x):
    return tuple(map(tensor, hal.batch_norm_stats(dense("x", x))))


def batch_norm_backward(grad, x, mean, var, weight=None, eps=1e-5):
    return tuple(map(tensor, hal.batch_norm_backward(dense("grad", grad), dense("x", x), dense("mean", mean),
                                                     dense("var", var), optional_dense("weight", weight), eps)))


def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation=None):
    """NCHW convolution through hal.conv2d, then the activation as a second HAL op (not fused in one pass)."""
    y = hal.conv2d(dense("x", x), dense("weight", weight), optional_dense("bias", bias), stride, padding, dilation,
                   groups)
    if activation is not None:
        y = getattr(hal, activation)(y)
    return tensor(y)


def conv2d_input_grad(grad, weight, input_size, stride, padding, dilation, groups=1):
    return tensor(hal.conv2d_input_grad(dense("grad", grad), dense("weight", weight), input_size, stride, padding,
                                        dilation, groups))


def conv2d_weight_grad(grad, x, kernel_size, stride, padding, dilation, groups=1):
    return tensor(hal.conv2d_weight_grad(dense("grad", grad), dense("x", x), kernel_size, stride, padding, dilation,
                                         groups))


def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    return tensor(hal.max_pool2d(dense("x", x), kernel_size, stride or None, padding, dilation, ceil_mode))


def max_pool2d_backward(grad, x, kernel_size, stride, padding, dilation, ceil_mode):
    return tensor(hal.max_pool2d_backward(dense("grad", grad), dense("x", x), kernel_size, stride or None, padding,
                                          dilation, ceil_mode))


def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    return tensor(hal.avg_pool2d(dense("x", x), kernel_size, stride or None, padding, ceil_mode, count_include_pad))


def avg_pool2d_backward(grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    return tensor(hal.avg_pool2d_backward(dense("grad", grad), dense("x", x), kernel_size, stride or None, padding,
                                          ceil_mode, count_include_pad))


def adaptive_avg_pool2d(x, output_size):
    return tensor(hal.adaptive_avg_pool2d(dense("x", x), output_size))


def adaptive_avg_pool2d_backward(grad, x, output_size):
    return tensor(hal.adaptive_avg_pool2d_backward(dense("grad", grad), dense("x", x), output_size))


def embedding(weight, idx):
    return tensor(hal.embedding(dense("weight", weight), indices("indices", idx)))


def embedding_backward(grad, idx, num_weights):
    return tensor(hal.embedding_backward(dense("grad", grad), indices("indices", idx), num_weights))


def cat(tensors, dim=0):
    return tensor(hal.cat([dense(f"tensors[{i}]", t) for i, t in enumerate(tensors)], dim))
