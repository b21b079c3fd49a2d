"""Neural-network ops with their gradients: softmax, layer norm, 2-D convolution, MSE loss."""
from __future__ import annotations

import math

import torch

from .. import memory
from ..registry import Unsupported, kernel
from .common import Plan, computable, family, filled, new, operands, run


# --- softmax over any dim (the HAL's runs over the last axis: other dims move there and back) -----------------

def _moved(x, dim: int, ndim: int):
    """(x with axis ``dim`` moved last as a dense array, the permutation back) — x itself when dim is last."""
    if dim == ndim - 1:
        return x, None
    order = [a for a in range(ndim) if a != dim] + [dim]
    strides = memory.contiguous_strides(x.shape)
    moved = run("copy_strided", [x], shape=tuple(x.shape[a] for a in order), strides=tuple(strides[a] for a in order),
                offset=0)
    back = [order.index(a) for a in range(ndim)]
    return moved, back


def _restored(op: str, inputs, back) -> Plan:
    if back is None:
        return Plan(op, inputs, {})
    y = run(op, inputs)
    strides = memory.contiguous_strides(y.shape)
    return Plan("copy_strided", [y], dict(shape=tuple(y.shape[a] for a in back),
                                          strides=tuple(strides[a] for a in back), offset=0))


def _softmax_plan(self, dim, half_to_float=False):
    computable(self)
    if half_to_float or self.dim() == 0:
        raise Unsupported("half_to_float or 0-D input")
    x, back = _moved(memory.as_array(self), dim % self.dim(), self.dim())
    return _restored("softmax", [x], back)


def _softmax_backward_plan(grad_output, output, dim, input_dtype):
    computable(grad_output, output)
    if output.dim() == 0 or input_dtype != output.dtype:
        raise Unsupported("0-D or mixed dtypes")
    dim = dim % output.dim()
    g, back = _moved(memory.as_array(grad_output), dim, output.dim())
    y, _ = _moved(memory.as_array(output), dim, output.dim())
    return _restored("softmax_backward", [g, y], back)


family(_softmax_plan, ["_softmax"], out=["_softmax.out"])
family(_softmax_backward_plan, ["_softmax_backward_data"], out=["_softmax_backward_data.out"], out_name="grad_input")


# --- layer norm: statistics per row of the normalised trailing axes -------------------------------------------

def _rows_of(x: torch.Tensor, normalized_shape) -> tuple[int, int]:
    width = math.prod(normalized_shape)
    return (x.numel() // width if width else 0), width


def _broadcast_column(v, rows: int, width: int):
    """A (rows, 1) array repeated along each row: (rows, width)."""
    return run("copy_strided", [v], shape=(rows, width), strides=(1, 0), offset=0)


def _broadcast_row(v, rows: int, width: int):
    """A (width,) array repeated for each row: (rows, width)."""
    return run("copy_strided", [v], shape=(rows, width), strides=(0, 1), offset=0)


@kernel("native_layer_norm")
def native_layer_norm(input, normalized_shape, weight, bias, eps):
    """(output, mean, rstd): the output in one HAL launch; the statistics autograd saves, computed the way
    torch defines them (rstd = 1/sqrt(biased var + eps))."""
    computable(input, *(t for t in (weight, bias) if t is not None))
    rows, width = _rows_of(input, normalized_shape)
    if rows == 0 or width == 0 or eps < 0:  # torch accepts a negative eps; the HAL refuses it
        raise Unsupported("empty input or negative eps")
    x = memory.as_array(input).reshape(rows, width)
    w = None if weight is None else memory.as_array(weight).reshape(width)
    b = None if bias is None else memory.as_array(bias).reshape(width)
    out = run("layer_norm", [x, w, b], eps=float(eps))
    mean = run("mean", [x], axes=(1,), keepdims=True)
    centred = run("add", [x, _broadcast_column(mean, rows, width)], alpha=-1.0)
    var = run("mean", [run("mul", [centred, centred])], axes=(1,), keepdims=True)
    std = run("sqrt", [run("scale", [var], alpha=1.0, beta=float(eps))])
    rstd = run("div", [filled(std, 1.0), std])
    stats_shape = tuple(input.shape[:input.dim() - len(normalized_shape)]) + (1,) * len(normalized_shape)
    return (memory.as_tensor(out, input.shape), memory.as_tensor(mean, stats_shape),
            memory.as_tensor(rstd, stats_shape))


@kernel("native_layer_norm_backward")
def native_layer_norm_backward(grad_out, input, normalized_shape, mean, rstd, weight, bias, output_mask):
    """Gradients from the saved (mean, rstd), as torch's kernel: x̂ = (x - mean)·rstd, g = grad·weight,
    grad_x = rstd·(g - mean(g) - x̂·mean(g·x̂)), grad_weight = Σ grad·x̂, grad_bias = Σ grad (over rows)."""
    computable(grad_out, input, mean, rstd, *(t for t in (weight,) if t is not None))
    rows, width = _rows_of(input, normalized_shape)
    if rows == 0 or width == 0:
        raise Unsupported("empty input")
    grad = memory.as_array(grad_out).reshape(rows, width)
    x = memory.as_array(input).reshape(rows, width)
    rstd_rows = _broadcast_column(memory.as_array(rstd).reshape(rows, 1), rows, width)
    mean_rows = _broadcast_column(memory.as_array(mean).reshape(rows, 1), rows, width)
    x_hat = run("mul", [run("add", [x, mean_rows], alpha=-1.0), rstd_rows])
    grad_input = grad_weight = grad_bias = None
    if output_mask[0]:
        g = grad if weight is None else run("mul", [grad, _broadcast_row(memory.as_array(weight).reshape(width),
                                                                         rows, width)])
        g_mean = _broadcast_column(run("mean", [g], axes=(1,), keepdims=True), rows, width)
        gx_mean = _broadcast_column(run("mean", [run("mul", [g, x_hat])], axes=(1,), keepdims=True), rows, width)
        centred = run("add", [run("add", [g, g_mean], alpha=-1.0), run("mul", [x_hat, gx_mean])], alpha=-1.0)
        grad_input = memory.as_tensor(run("mul", [centred, rstd_rows]), input.shape)
    if output_mask[1] and weight is not None:
        grad_weight = memory.as_tensor(run("sum_rows", [run("mul", [grad, x_hat])]), weight.shape)
    if output_mask[2] and bias is not None:
        grad_bias = memory.as_tensor(run("sum_rows", [grad]), bias.shape)
    return grad_input, grad_weight, grad_bias


# --- 2-D convolution (torch sends every convolution on a custom device to convolution_overrideable) -------------

def _conv_params(stride, padding, dilation, groups) -> dict:
    return dict(stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation), groups=int(groups))


def _conv2d_only(input, transposed, output_padding):
    if transposed or input.dim() != 4 or any(output_padding):
        raise Unsupported("only non-transposed 2-D convolution runs on the HAL")


@kernel("convolution_overrideable")
def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    _conv2d_only(input, transposed, output_padding)
    computable(input, weight, *(t for t in (bias,) if t is not None))
    b = None if bias is None else memory.as_array(bias)
    return new(Plan("conv2d", [memory.as_array(input), memory.as_array(weight), b],
                    _conv_params(stride, padding, dilation, groups)))


@kernel("convolution_backward_overrideable")
def convolution_backward(grad_output, input, weight, stride, padding, dilation, transposed, output_padding, groups,
                         output_mask):
    _conv2d_only(input, transposed, output_padding)
    computable(grad_output, input, weight)
    grad = memory.as_array(grad_output)
    geometry = _conv_params(stride, padding, dilation, groups)
    grad_input = grad_weight = grad_bias = None
    if output_mask[0]:
        grad_input = new(Plan("conv2d_input_grad", [grad, memory.as_array(weight)],
                              dict(input_shape=tuple(input.shape), **geometry)))
    if output_mask[1]:
        grad_weight = new(Plan("conv2d_weight_grad", [grad, memory.as_array(input)],
                               dict(kernel_size=tuple(weight.shape[2:]), **geometry)))
    if output_mask[2]:
        grad_bias = new(Plan("sum", [grad], dict(axes=(0, 2, 3), keepdims=False)))
    return grad_input, grad_weight, grad_bias


# --- MSE loss ---------------------------------------------------------------------------------------------------

_NONE, _MEAN, _SUM = 0, 1, 2


def _mse_plan(self, target, reduction=_MEAN):
    (x, t), shape = operands(self, target)
    difference = run("add", [x, t], alpha=-1.0)
    if reduction == _NONE:
        return Plan("mul", [difference, difference], {}, shape)
    squared = run("mul", [difference, difference])
    return Plan("mean" if reduction == _MEAN else "sum", [squared], dict(axes=None, keepdims=False))


def _mse_backward_plan(grad_output, self, target, reduction):
    (g, x, t), shape = operands(grad_output, self, target)
    count = math.prod(shape)
    norm = 2.0 / count if reduction == _MEAN and count else 2.0
    difference = run("scale", [run("add", [x, t], alpha=-1.0)], alpha=norm)
    return Plan("mul", [difference, g], {}, shape)


family(_mse_plan, ["mse_loss"], out=["mse_loss.out"])
family(_mse_backward_plan, ["mse_loss_backward"], out=["mse_loss_backward.grad_input"], out_name="grad_input")
