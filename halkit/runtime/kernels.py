"""The kernels a lowered partition calls: what each graph node runs, on HAL arrays.

A lowered partition is an ordinary ``torch.fx`` graph whose compute nodes call
the ``torch.ops.halkit`` operators (halkit.torch) — printable, and typed by
their fake kernels — or, for the few steps with no operator there, the
functions of :data:`RUNTIME` below (scale, cast, the training-mode batch norm
and the convolution backward made of several HAL ops). When a partition runs, each node calls :data:`ARRAY` [its name]
instead: the same op on HAL arrays (NumPy arrays on a host driver,
DeviceArrays on a device), so the values between nodes never become tensors
and never leave the device. Arguments arrive as arrays or
:class:`~halkit.runtime.views.View` objects; every kernel makes its operands
dense itself (:func:`~halkit.runtime.views.dense`), so a layout op costs a
copy only where a kernel really needs one.
"""
from __future__ import annotations

import numpy as np
import torch

import halkit.torch  # noqa: F401  (registers torch.ops.halkit.*)
from halkit import hal

from .views import dense, gemm_operand, optional_dense

D = dense


# --- the kernels, on arrays --------------------------------------------------------------------------------

def linear(x, weight, bias=None, activation=None):
    return hal.linear(D(x), D(weight), optional_dense(bias), activation)


def matmul(a, b, trans_a=False, trans_b=False):
    (a, ta), (b, tb) = gemm_operand(a), gemm_operand(b)
    return hal.matmul(a, b, ta is not bool(trans_a), tb is not bool(trans_b))


def bmm(a, b, trans_a=False, trans_b=False):
    (a, ta), (b, tb) = gemm_operand(a), gemm_operand(b)
    return hal.bmm(a, b, ta is not bool(trans_a), tb is not bool(trans_b))


def _unary(op):
    fn = getattr(hal, op)
    return lambda x: fn(D(x))


def _binary(op):
    fn = getattr(hal, op)
    return lambda a, b: fn(D(a), D(b))


def add(a, b, alpha=1.0):
    return hal.add(D(a), D(b), alpha)


def scale(x, alpha=1.0, beta=0.0):
    """alpha·x + beta (torch's mul/div/add/sub by a Python number, neg, rsub)."""
    return hal.scale(D(x), alpha, beta)


def cast(x, dtype):
    """x in another float dtype (torch's type promotion, a sum's dtype=, _to_copy)."""
    return hal.cast(D(x), str(dtype).removeprefix("torch."))


def add_bias(x, b):
    return hal.add_bias(D(x), D(b))


def softmax(x, dim=-1):
    return hal.softmax(D(x), dim)


def softmax_backward(grad, y, dim=-1):
    return hal.softmax_backward(D(grad), D(y), dim)


def sum_rows(x):
    return hal.sum_rows(D(x))


def _axes(dims):
    return None if dims is None or len(dims) == 0 else tuple(dims)


def sum(x, dims=None, keepdim=False):  # noqa: A001 - aten's name
    return hal.sum(D(x), _axes(dims), keepdim)


def mean(x, dims=None, keepdim=False):
    return hal.mean(D(x), _axes(dims), keepdim)


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    return hal.layer_norm(D(x), optional_dense(weight), optional_dense(bias), eps)


def layer_norm_backward(grad, x, weight=None, eps=1e-5):
    return hal.layer_norm_backward(D(grad), D(x), optional_dense(weight), eps)


def batch_norm(x, mean, var, weight=None, bias=None, eps=1e-5):
    return hal.batch_norm(D(x), D(mean), D(var), optional_dense(weight), optional_dense(bias), eps)


def batch_norm_stats(x):
    return hal.batch_norm_stats(D(x))


def batch_norm_backward(grad, x, mean, var, weight=None, eps=1e-5):
    return hal.batch_norm_backward(D(grad), D(x), D(mean), D(var), optional_dense(weight), eps)


def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation=None):
    y = hal.conv2d(D(x), D(weight), optional_dense(bias), stride, padding, dilation, groups)
    return y if activation is None else getattr(hal, activation)(y)


def conv2d_input_grad(grad, weight, input_size, stride, padding, dilation, groups=1):
    return hal.conv2d_input_grad(D(grad), D(weight), input_size, stride, padding, dilation, groups)


def conv2d_weight_grad(grad, x, kernel_size, stride, padding, dilation, groups=1):
    return hal.conv2d_weight_grad(D(grad), D(x), kernel_size, stride, padding, dilation, groups)


def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    return hal.max_pool2d(D(x), kernel_size, stride or None, padding, dilation, ceil_mode)


def max_pool2d_backward(grad, x, kernel_size, stride, padding, dilation, ceil_mode):
    return hal.max_pool2d_backward(D(grad), D(x), kernel_size, stride or None, padding, dilation, ceil_mode)


def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    return hal.avg_pool2d(D(x), kernel_size, stride or None, padding, ceil_mode, count_include_pad)


def avg_pool2d_backward(grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    return hal.avg_pool2d_backward(D(grad), D(x), kernel_size, stride or None, padding, ceil_mode, count_include_pad)


def adaptive_avg_pool2d(x, output_size):
    return hal.adaptive_avg_pool2d(D(x), output_size)


def adaptive_avg_pool2d_backward(grad, x, output_size):
    return hal.adaptive_avg_pool2d_backward(D(grad), D(x), output_size)


def embedding(weight, indices):
    return hal.embedding(D(weight), indices)


def embedding_backward(grad, indices, num_weights, padding_idx=-1):
    return hal.embedding_backward(D(grad), indices, num_weights, padding_idx)


def cat(tensors, dim=0):
    return hal.cat([D(x) for x in tensors], dim)


# --- steps made of several HAL ops (no torch.ops.halkit operator: the graph calls the functions below) -------

def batch_norm_training(x, weight, bias, running_mean, running_var, momentum, eps):
    """aten._native_batch_norm_legit_functional: (y, batch mean, 1/√(var+eps), new running mean, new running var),
    the running statistics updated as torch does (momentum, unbiased variance)."""
    x = D(x)
    mean, var = hal.batch_norm_stats(x)
    y = hal.batch_norm(x, mean, var, optional_dense(weight), optional_dense(bias), eps)
    invstd = hal.div(hal.full(var.shape, 1.0, var.dtype, _device_of(var)), hal.sqrt(hal.scale(var, 1.0, eps)))
    count = x.size // x.shape[1]
    new_mean = hal.add(hal.scale(D(running_mean), 1.0 - momentum), mean, momentum)
    new_var = hal.add(hal.scale(D(running_var), 1.0 - momentum), var, momentum * count / max(count - 1, 1))
    return y, mean, invstd, new_mean, new_var


def batch_norm_training_backward(grad, x, weight, mean, invstd, eps, mask):
    """aten.native_batch_norm_backward in training mode: the variance is recovered from the saved 1/√(var+eps)."""
    invstd = D(invstd)
    var = hal.scale(hal.div(hal.full(invstd.shape, 1.0, invstd.dtype, _device_of(invstd)), hal.mul(invstd, invstd)),
                    1.0, -eps)
    grads = hal.batch_norm_backward(D(grad), D(x), D(mean), var, optional_dense(weight), eps)
    return tuple(g if wanted else None for g, wanted in zip(grads, mask))


def convolution_backward(grad, x, weight, stride, padding, dilation, groups, mask):
    """aten.convolution_backward: (grad_x, grad_w, grad_bias), each computed only if asked for."""
    grad = D(grad)
    geometry = (stride, padding, dilation, groups)
    return (hal.conv2d_input_grad(grad, D(weight), tuple(x.shape), *geometry) if mask[0] else None,
            hal.conv2d_weight_grad(grad, D(x), tuple(weight.shape[2:]), *geometry) if mask[1] else None,
            hal.sum(grad, (0, 2, 3)) if mask[2] else None)


def full(shape, value, dtype, device):
    return hal.full(shape, value, str(dtype).removeprefix("torch."), device)


def _device_of(array):
    return None if type(array) is np.ndarray else array.driver


# --- names ------------------------------------------------------------------------------------------------

ARRAY = {
    "linear": linear, "matmul": matmul, "bmm": bmm, "add": add, "scale": scale, "cast": cast,
    "add_bias": add_bias, "softmax": softmax, "softmax_backward": softmax_backward, "sum_rows": sum_rows,
    "sum": sum, "mean": mean, "layer_norm": layer_norm, "layer_norm_backward": layer_norm_backward,
    "batch_norm": batch_norm, "batch_norm_stats": batch_norm_stats, "batch_norm_backward": batch_norm_backward,
    "conv2d": conv2d, "conv2d_input_grad": conv2d_input_grad, "conv2d_weight_grad": conv2d_weight_grad,
    "max_pool2d": max_pool2d, "max_pool2d_backward": max_pool2d_backward, "avg_pool2d": avg_pool2d,
    "avg_pool2d_backward": avg_pool2d_backward, "adaptive_avg_pool2d": adaptive_avg_pool2d,
    "adaptive_avg_pool2d_backward": adaptive_avg_pool2d_backward, "embedding": embedding,
    "embedding_backward": embedding_backward, "cat": cat, "full": full,
    "batch_norm_training": batch_norm_training, "batch_norm_training_backward": batch_norm_training_backward,
    "convolution_backward": convolution_backward,
    **{op: _unary(op) for op in ("relu", "gelu", "tanh", "sigmoid", "silu", "hardswish", "exp", "sqrt")},
    **{op: _binary(op) for op in ("mul", "div", "relu_backward", "gelu_backward", "tanh_backward",
                                   "sigmoid_backward", "silu_backward", "hardswish_backward")},
}

#: kernels that return a tuple (their getitem nodes stay in the graph)
TUPLES = frozenset({"layer_norm_backward", "batch_norm_stats", "batch_norm_backward", "batch_norm_training",
                    "batch_norm_training_backward", "convolution_backward"})

#: element-wise kernels of one output shape (type promotion casts their operands)
ELEMENTWISE = frozenset({"relu", "gelu", "tanh", "sigmoid", "silu", "hardswish", "exp", "sqrt", "add", "mul", "div",
                         "scale", "relu_backward", "gelu_backward", "tanh_backward", "sigmoid_backward",
                         "silu_backward", "hardswish_backward"})


def _graph_function(name: str):
    """What a lowered node with no torch.ops.halkit operator calls: a named stand-in that says where it runs."""
    def step(*args, **kwargs):
        raise RuntimeError(f"{name} is a step of a compiled HAL partition; it runs inside the partition only")
    step.__name__ = step.__qualname__ = name
    step.__module__ = __name__
    return step


#: the graph target of each kernel: the torch.ops.halkit operator when there is one
TARGETS = {name: getattr(torch.ops.halkit, name).default if hasattr(torch.ops.halkit, name) else _graph_function(name)
           for name in ARRAY}
_NAME_OF = {target: name for name, target in TARGETS.items()}


def target(name: str):
    """The callable a lowered node running kernel ``name`` calls."""
    return TARGETS[name]


def name_of(fn) -> str | None:
    """The kernel name of a node target, or None for other targets."""
    try:
        return _NAME_OF.get(fn)
    except TypeError:  # unhashable targets
        return None
