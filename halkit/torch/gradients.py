"""Backward formulas, written once for both routes into the HAL.

Each ``*_backward(ops, ctx, grad)`` takes the op provider as its first
argument: :mod:`halkit.torch.tensor_ops` when an eager autograd Function runs it
for a first derivative, ``torch.ops.halkit`` when the registered operators run
it (under torch.compile, AOTAutograd traces these calls into the backward
graph, so they must stay traceable: HAL work goes through ``ops``, shape glue
through torch views) and when a second derivative is asked for. The
``*_setup_context`` functions save what backward needs and have the signature
``torch.library.register_autograd`` expects.

The backward ops have formulas of their own (the ``*_double_backward`` ones
below), so ``create_graph=True`` gives correct second derivatives; where a
second derivative is not implemented the registered formula raises a clear
error instead of returning a wrong number.
"""
from __future__ import annotations

import functools
import math

import torch

from . import tensor_ops


def _needs_grad(ctx, *indices):
    """ctx.needs_input_grad at ``indices`` (increasing); traced contexts may report fewer inputs (trailing Nones
    dropped)."""
    needs = ctx.needs_input_grad + (False,) * (indices[-1] + 1)
    return [needs[i] for i in indices]


# --- GEMMs ------------------------------------------------------------------------------------------------

def linear_setup_context(ctx, inputs, output):
    x, weight, bias, activation = inputs
    ctx.activation = activation
    ctx.has_bias = bias is not None
    # relu's mask is recoverable from its output (y > 0 ⟺ pre-activation > 0, NaN stays NaN); gelu's is not,
    # so gelu recomputes the pre-activation in backward (the one case that needs the bias) instead of keeping
    # a second tensor alive. Each saved tensor costs the eager path ~0.5 µs, so nothing else is kept.
    ctx.save_for_backward(x, weight, bias if activation == "gelu" else None,
                          output if activation == "relu" else None)


def linear_backward(ops, ctx, grad):
    x, weight, bias, output = ctx.saved_tensors
    if ctx.activation == "relu":
        grad = ops.relu_backward(grad, output)
    elif ctx.activation == "gelu":
        grad = ops.gelu_backward(grad, ops.linear(x, weight, bias, None))
    need_x, need_w, need_b = _needs_grad(ctx, 0, 1, 2)
    # The eager kernels fuse the three HAL calls (one conversion per tensor); on the registered operators they
    # are composed (what AOTAutograd traces, and what a second derivative differentiates).
    grads = tensor_ops.linear_grads if ops is tensor_ops else functools.partial(linear_grads, ops)
    grad_x, grad_w, grad_b = grads(grad, x, weight, need_x, need_w, need_b and ctx.has_bias)
    return grad_x, grad_w, grad_b, None


def linear_grads(ops, grad, x, weight, need_x=True, need_w=True, need_b=True):
    """(grad_x, grad_w, grad_b) of ``x @ weight.T + b`` given the output gradient: two GEMMs and a row sum."""
    # (..., out) → (rows, out) is a view for a contiguous grad; the GEMMs read weight and x through transpose
    # flags, so no transposed copy is made.
    rows = math.prod(x.shape[:-1])
    grad_rows = grad.reshape(rows, weight.shape[0])
    grad_x = ops.matmul(grad_rows, weight, False, False).reshape(x.shape) if need_x else None
    grad_w = ops.matmul(grad_rows, x.reshape(rows, weight.shape[1]), True, False) if need_w else None
    grad_b = ops.sum_rows(grad_rows) if need_b else None
    return grad_x, grad_w, grad_b


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


def bmm_backward(ops, ctx, grad):
    """As matmul_backward, batch by batch."""
    a, b = ctx.saved_tensors
    trans_a, trans_b = ctx.trans
    grad_a = grad_b = None
    need_a, need_b = _needs_grad(ctx, 0, 1)
    if need_a:
        grad_a = ops.bmm(b, grad, trans_b, True) if trans_a else ops.bmm(grad, b, False, not trans_b)
    if need_b:
        grad_b = ops.bmm(grad, a, True, trans_a) if trans_b else ops.bmm(a, grad, not trans_a, False)
    return grad_a, grad_b, None, None


# --- element-wise -----------------------------------------------------------------------------------------

def save_input(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])


def save_output(ctx, inputs, output):
    ctx.save_for_backward(output)


def _from_saved(op_name):
    """grad → ops.<op_name>(grad, saved): the backward of an element-wise op."""
    def backward(ops, ctx, grad):
        (saved,) = ctx.saved_tensors
        return getattr(ops, op_name)(grad, saved)
    return backward


relu_backward = _from_saved("relu_backward")
gelu_backward = _from_saved("gelu_backward")
silu_backward = _from_saved("silu_backward")
hardswish_backward = _from_saved("hardswish_backward")
tanh_backward = _from_saved("tanh_backward")
sigmoid_backward = _from_saved("sigmoid_backward")


def relu_save_output(ctx, inputs, output):
    # torch differentiates relu through its result (threshold_backward(grad, result, 0)): same mask, NaN included.
    ctx.save_for_backward(output)


def add_backward(ops, ctx, grad):
    return grad, grad


def add_bias_backward(ops, ctx, grad):
    need_x, need_b = _needs_grad(ctx, 0, 1)
    return grad if need_x else None, ops.sum_rows(grad) if need_b else None


def save_inputs(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def mul_backward(ops, ctx, grad):
    a, b = ctx.saved_tensors
    need_a, need_b = _needs_grad(ctx, 0, 1)
    return ops.mul(grad, b) if need_a else None, ops.mul(grad, a) if need_b else None


def div_backward(ops, ctx, grad):
    a, b = ctx.saved_tensors
    need_a, need_b = _needs_grad(ctx, 0, 1)
    grad_a = ops.div(grad, b) if need_a or need_b else None
    grad_b = ops.mul(ops.div(grad_a, b), a).neg() if need_b else None
    return grad_a if need_a else None, grad_b


# --- softmax, layer norm, reductions ------------------------------------------------------------------------

def softmax_setup_context(ctx, inputs, output):
    ctx.dim = inputs[1]
    ctx.save_for_backward(output)


def softmax_backward(ops, ctx, grad):
    (y,) = ctx.saved_tensors
    return ops.softmax_backward(grad, y, ctx.dim), None


def sum_rows_setup_context(ctx, inputs, output):
    ctx.input_shape = inputs[0].shape


def sum_rows_backward(ops, ctx, grad):
    return grad.expand(ctx.input_shape)


def reduce_setup_context(ctx, inputs, output):
    x, dims, keepdim = inputs
    ctx.input_shape = x.shape
    ctx.dims = tuple(range(x.dim())) if not dims else tuple(d % max(x.dim(), 1) for d in dims)
    ctx.keepdim = keepdim


def _expand_reduced(ctx, grad):
    if not ctx.keepdim:
        for d in sorted(ctx.dims):
            grad = grad.unsqueeze(d)
    return grad.expand(ctx.input_shape)


def sum_backward(ops, ctx, grad):
    return _expand_reduced(ctx, grad), None, None


def mean_backward(ops, ctx, grad):
    count = math.prod(ctx.input_shape[d] for d in ctx.dims)
    return _expand_reduced(ctx, grad) / count, None, None


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


def batch_norm_setup_context(ctx, inputs, output):
    x, mean, var, weight, bias, eps = inputs
    ctx.eps, ctx.has_bias = eps, bias is not None
    ctx.save_for_backward(x, mean, var, weight)


def batch_norm_backward(ops, ctx, grad):
    """batch_norm with given statistics (inference, or statistics computed apart): x, weight, bias only."""
    x, mean, var, weight = ctx.saved_tensors
    if any(_needs_grad(ctx, 1, 2)):
        raise RuntimeError("halkit batch_norm takes mean/var as constants: their gradient is not defined here; "
                           "for training-mode batch norm use torch.nn.BatchNorm2d (the compiler lowers it)")
    invstd = torch.rsqrt(var + ctx.eps)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    scale = invstd if weight is None else invstd * weight
    reduce_dims = (0, *range(2, x.dim()))
    grad_x = grad * scale.reshape(shape)
    grad_w = (grad * (x - mean.reshape(shape)) * invstd.reshape(shape)).sum(reduce_dims) if weight is not None else None
    grad_b = grad.sum(reduce_dims) if ctx.has_bias else None
    return grad_x, None, None, grad_w, grad_b, None


# --- convolution and pooling ----------------------------------------------------------------------------

def conv2d_setup_context(ctx, inputs, output):
    x, weight, bias, stride, padding, dilation, groups, activation = inputs
    ctx.geometry = (stride, padding, dilation, groups)
    ctx.activation = activation
    ctx.save_for_backward(x, weight, bias, output if activation == "relu" else None)


def conv2d_backward(ops, ctx, grad):
    x, weight, bias, output = ctx.saved_tensors
    stride, padding, dilation, groups = ctx.geometry
    if ctx.activation == "relu":
        grad = ops.relu_backward(grad, output)
    elif ctx.activation == "gelu":
        grad = ops.gelu_backward(grad, ops.conv2d(x, weight, bias, stride, padding, dilation, groups, None))
    need_x, need_w, need_b = _needs_grad(ctx, 0, 1, 2)
    geometry = (stride, padding, dilation, groups)
    grad_x = ops.conv2d_input_grad(grad, weight, x.shape, *geometry) if need_x else None
    grad_w = ops.conv2d_weight_grad(grad, x, weight.shape[2:], *geometry) if need_w else None
    grad_b = ops.sum(grad, [0, 2, 3], False) if need_b and bias is not None else None
    return grad_x, grad_w, grad_b, None, None, None, None, None


def pool_setup_context(ctx, inputs, output):
    ctx.params = inputs[1:]
    ctx.save_for_backward(inputs[0])


def pool_backward(op_name):
    def backward(ops, ctx, grad):
        (x,) = ctx.saved_tensors
        return (getattr(ops, op_name)(grad, x, *ctx.params),) + (None,) * len(ctx.params)
    return backward


def embedding_setup_context(ctx, inputs, output):
    weight, indices = inputs
    ctx.num_weights = weight.shape[0]
    ctx.save_for_backward(indices)


def embedding_backward(ops, ctx, grad):
    (indices,) = ctx.saved_tensors
    return ops.embedding_backward(grad, indices, ctx.num_weights), None


def cat_setup_context(ctx, inputs, output):
    tensors, dim = inputs
    ctx.dim = dim % tensors[0].dim()
    ctx.sizes = [t.shape[ctx.dim] for t in tensors]


def cat_backward(ops, ctx, grad):
    return list(torch.split(grad, ctx.sizes, ctx.dim)), None


# --- second derivatives: the backward ops' own formulas -------------------------------------------------------

def save_grad_and_value(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:2])


def relu_double_backward(ops, ctx, gg):
    # relu_backward(grad, x) is linear in grad with a piecewise-constant mask: d/dx is 0 almost everywhere.
    grad, x = ctx.saved_tensors
    return ops.relu_backward(gg, x), torch.zeros_like(x)


def gelu_double_backward(ops, ctx, gg):
    grad, x = ctx.saved_tensors
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return ops.gelu_backward(gg, x), gg * grad * pdf * (2 - x * x)


def tanh_double_backward(ops, ctx, gg):
    grad, y = ctx.saved_tensors
    return ops.tanh_backward(gg, y), gg * grad * (-2 * y)


def sigmoid_double_backward(ops, ctx, gg):
    grad, y = ctx.saved_tensors
    return ops.sigmoid_backward(gg, y), gg * grad * (1 - 2 * y)


def softmax_double_backward(ops, ctx, gg):
    # out = y·(g − Σ g·y) is linear in g (and self-adjoint); d/dy of ⟨gg, out⟩ = gg·g − gg·s − g·Σ(gg·y), s = Σ g·y.
    grad, y = ctx.saved_tensors
    dim = ctx.dim
    s = (grad * y).sum(dim, keepdim=True)
    return ops.softmax_backward(gg, y, dim), gg * grad - gg * s - grad * (gg * y).sum(dim, keepdim=True), None


def softmax_backward_setup(ctx, inputs, output):
    ctx.dim = inputs[2]
    ctx.save_for_backward(*inputs[:2])


def conv2d_input_grad_setup(ctx, inputs, output):
    grad, weight, input_size, *geometry = inputs
    ctx.geometry = tuple(geometry)
    ctx.save_for_backward(grad, weight)


def conv2d_input_grad_double_backward(ops, ctx, v):
    # input_grad(g, w) is bilinear: ⟨v, input_grad(g, w)⟩ = ⟨conv(v, w), g⟩ = ⟨weight_grad(g, v), w⟩.
    grad, weight = ctx.saved_tensors
    stride, padding, dilation, groups = ctx.geometry
    d_grad = ops.conv2d(v, weight, None, stride, padding, dilation, groups, None)
    d_weight = ops.conv2d_weight_grad(grad, v, weight.shape[2:], stride, padding, dilation, groups)
    return d_grad, d_weight, None, None, None, None, None


def conv2d_weight_grad_setup(ctx, inputs, output):
    grad, x, kernel_size, *geometry = inputs
    ctx.geometry = tuple(geometry)
    ctx.save_for_backward(grad, x)


def conv2d_weight_grad_double_backward(ops, ctx, v):
    # weight_grad(g, x) is bilinear: ⟨V, weight_grad(g, x)⟩ = ⟨g, conv(x, V)⟩ = ⟨input_grad(g, V), x⟩.
    grad, x = ctx.saved_tensors
    stride, padding, dilation, groups = ctx.geometry
    d_grad = ops.conv2d(x, v, None, stride, padding, dilation, groups, None)
    d_x = ops.conv2d_input_grad(grad, v, x.shape, stride, padding, dilation, groups)
    return d_grad, d_x, None, None, None, None, None


def embedding_backward_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[1])
    ctx.num_params = len(inputs)


def embedding_double_backward(ops, ctx, gg):
    (indices,) = ctx.saved_tensors
    return ops.embedding(gg, indices), None, None


def no_double_backward(op_name):
    """The registered formula of a backward op whose own derivative halkit does not implement: a clear error."""
    def setup(ctx, inputs, output):
        pass

    def backward(ops, ctx, *grads):
        raise RuntimeError(
            f"the second derivative through halkit.{op_name} is not implemented; compute this part with torch "
            f"(e.g. the torch.nn layer instead of its halkit counterpart) when you need create_graph=True")
    return setup, backward
