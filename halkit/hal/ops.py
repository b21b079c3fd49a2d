"""The HAL op API: validate the arguments, then run the op where its data is.

Arguments are NumPy arrays or DeviceArrays (float32 or float64, one dtype per
call; indices int64; matmul, linear, cast and as_strided also take bfloat16
from ml_dtypes). With NumPy arrays every op returns a new NumPy array,
computed on the calling thread's driver (``hal.use``): in place on a host
driver, uploaded/launched/downloaded on a device behind a link. With
DeviceArrays it runs on their device and returns DeviceArrays there — no
host round trip. Semantics are those of the numpy driver.
"""
from __future__ import annotations

import math

import numpy as np

from . import checks, dispatch, opset
from .array import DeviceArray
from .registry import active


def _run(op: str, inputs: tuple, params: tuple = ()):
    """With NumPy inputs, the current driver's method for ``op`` (a host driver's kernel, or a device
    driver's upload-launch-download); with DeviceArrays, a launch on their device."""
    for x in inputs:
        if type(x) is DeviceArray or type(x) is list:
            return dispatch.run(op, inputs, params)
    return getattr(active(), op)(*inputs, *params)


# --- GEMMs ------------------------------------------------------------------------------------------------

def matmul(a, b, trans_a: bool = False, trans_b: bool = False):
    """op(a) @ op(b) for 2-D a, b, where op transposes when its flag is set (no copy is made)."""
    driver = active()
    if (driver.checks_gemm_arguments and type(a) is np.ndarray and type(b) is np.ndarray and a.flags.c_contiguous
            and b.flags.c_contiguous):
        try:  # the driver checks the arguments (Driver.checks_gemm_arguments); a refusal is explained below
            return driver.gemm(a, b, None, bool(trans_a), bool(trans_b), None)
        except (TypeError, ValueError):
            pass
    elif (type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2 and a.dtype is b.dtype
            and a.dtype in checks.GEMM_DTYPES and a.flags.c_contiguous and b.flags.c_contiguous):
        # The common case (C-ordered NumPy operands) validated in one expression, as in linear below.
        trans_a, trans_b = bool(trans_a), bool(trans_b)
        if (a.shape[0] if trans_a else a.shape[1]) == (b.shape[1] if trans_b else b.shape[0]):
            return driver.gemm(a, b, None, trans_a, trans_b, None)
    a, a_t = checks.gemm_operand("a", a)
    b, b_t = checks.gemm_operand("b", b)
    if a.dtype is not b.dtype:
        checks.same_dtype("a", a, "b", b)
    trans_a, trans_b = bool(trans_a) is not a_t, bool(trans_b) is not b_t
    k_a = a.shape[0] if trans_a else a.shape[1]
    k_b = b.shape[1] if trans_b else b.shape[0]
    if k_a != k_b:
        raise ValueError(
            f"matmul: inner dimensions differ: op(a) is {_op_shape(a, trans_a)} and op(b) is "
            f"{_op_shape(b, trans_b)}; op(a)'s columns must equal op(b)'s rows"
        )
    if type(a) is np.ndarray and type(b) is np.ndarray:
        return driver.gemm(a, b, None, trans_a, trans_b, None)
    return dispatch.run("gemm", (a, b, None), (trans_a, trans_b, None))


def linear(x, w, b=None, activation: str | None = None):
    """activation(x @ w.T + b) in one pass, like torch.nn.functional.linear (+ a fused activation).

    x is (..., in_features), w is (out_features, in_features), b is (out_features,) or None,
    activation is None, "relu" or "gelu". Leading dims of x are kept.
    """
    driver = active()
    if (driver.checks_gemm_arguments and type(x) is np.ndarray and type(w) is np.ndarray and x.ndim == 2
            and (b is None or type(b) is np.ndarray) and activation in checks.ACTIVATIONS and x.flags.c_contiguous
            and w.flags.c_contiguous):
        try:  # the driver checks the arguments (Driver.checks_gemm_arguments); a refusal is explained below
            return driver.gemm(x, w, b, False, True, activation)
        except (TypeError, ValueError):
            pass
    elif (type(x) is np.ndarray and type(w) is np.ndarray and x.ndim == 2 and w.ndim == 2 and x.dtype is w.dtype
            and x.dtype in checks.GEMM_DTYPES and x.shape[1] == w.shape[1] and x.flags.c_contiguous
            and w.flags.c_contiguous and activation in checks.ACTIVATIONS
            and (b is None or (type(b) is np.ndarray and b.dtype is x.dtype and b.shape == (w.shape[0],)
                               and b.flags.c_contiguous))):
        # The hot path of every linear layer (2-D x, C-ordered weight), validated in one expression: each
        # separate check below costs ~0.2 µs, a quarter of a batch-1 layer's kernel time.
        return driver.gemm(x, w, b, False, True, activation)
    checks.contiguous("x", x, checks.GEMM_DTYPES)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (..., in_features), got a 0-D array")
    w, w_t = checks.gemm_operand("w", w)
    checks.same_dtype("x", x, "w", w)
    out_features, in_features = (w.shape[1], w.shape[0]) if w_t else w.shape
    if x.shape[-1] != in_features:
        raise ValueError(
            f"linear: x has {x.shape[-1]} features (shape {x.shape}) but w expects {in_features} "
            f"(w is {out_features}×{in_features}, i.e. (out_features, in_features))"
        )
    if b is not None:
        checks.vector("b", b, out_features, "x", x, checks.GEMM_DTYPES)
    activation = checks.activation(activation)
    rows = math.prod(x.shape[:-1])  # not reshape(-1, K): that is ambiguous when K == 0
    x2 = x.reshape(rows, in_features)
    if type(x) is np.ndarray and type(w) is np.ndarray and (b is None or type(b) is np.ndarray):
        y = driver.gemm(x2, w, b, False, not w_t, activation)
    else:
        y = dispatch.run("gemm", (x2, w, b), (False, not w_t, activation))
    return y.reshape(*x.shape[:-1], out_features)


def bmm(a, b, trans_a: bool = False, trans_b: bool = False):
    """op(a[i]) @ op(b[i]) for 3-D a, b with equal batch sizes (attention's batched GEMMs)."""
    a, b = checks.contiguous("a", a), checks.contiguous("b", b)
    checks.ndim("a", a, 3)
    checks.ndim("b", b, 3)
    checks.same_dtype("a", a, "b", b)
    opset.infer("bmm", (a, b), dict(trans_a=bool(trans_a), trans_b=bool(trans_b)))
    return _run("bmm", (a, b), (bool(trans_a), bool(trans_b)))


# --- element-wise --------------------------------------------------------------------------------------------

def _unary(op: str, doc: str):
    def fn(x):
        if type(x) is np.ndarray:
            return getattr(active(), op)(checks.contiguous("x", x))
        return dispatch.run(op, (checks.contiguous("x", x),), ())
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = doc
    return fn


relu = _unary("relu", "max(x, 0) element-wise; NaN stays NaN.")
gelu = _unary("gelu", "Exact GELU x·Φ(x) element-wise (torch's default, erf form).")
tanh = _unary("tanh", "tanh(x) element-wise.")
sigmoid = _unary("sigmoid", "1 / (1 + exp(-x)) element-wise, without overflow for large |x|.")
silu = _unary("silu", "x · sigmoid(x) element-wise (SiLU / swish).")
hardswish = _unary("hardswish", "x · relu6(x + 3) / 6 element-wise.")
sqrt = _unary("sqrt", "√x element-wise (NaN for negative x).")
exp = _unary("exp", "eˣ element-wise.")


def scale(x, alpha: float = 1.0, beta: float = 0.0):
    """alpha·x + beta element-wise, alpha and beta scalars."""
    checks.contiguous("x", x)
    return _run("scale", (x,), (checks.scalar("alpha", alpha), checks.scalar("beta", beta)))


def _same_shaped(a_name, a, b_name, b):
    checks.contiguous(a_name, a)
    checks.contiguous(b_name, b)
    checks.same_dtype(a_name, a, b_name, b)
    checks.same_shape(a_name, a, b_name, b)
    return a, b


def add(a, b, alpha: float = 1.0):
    """a + alpha·b element-wise for arrays of equal shape."""
    return _run("add", _same_shaped("a", a, "b", b), (checks.scalar("alpha", alpha),))


def sub(a, b):
    """a - b element-wise for arrays of equal shape."""
    return _run("add", _same_shaped("a", a, "b", b), (-1.0,))


def mul(a, b):
    """a * b element-wise for arrays of equal shape."""
    return _run("mul", _same_shaped("a", a, "b", b))


def div(a, b):
    """a / b element-wise for arrays of equal shape (IEEE: x/0 is ±inf, 0/0 is NaN)."""
    return _run("div", _same_shaped("a", a, "b", b))


def _backward(op: str, second: str, doc: str):
    def fn(grad, value):
        return _run(op, _same_shaped("grad", grad, second, value))
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = doc
    return fn


relu_backward = _backward("relu_backward", "x", "The gradient of relu at x: 0 where x <= 0, else grad (NaN x keeps "
                                                "grad, like torch's threshold_backward).")
gelu_backward = _backward("gelu_backward", "x", "The gradient of gelu at x: grad · (Φ(x) + x·φ(x)).")
silu_backward = _backward("silu_backward", "x", "The gradient of silu at x.")
hardswish_backward = _backward("hardswish_backward", "x", "The gradient of hardswish at x (torch's convention: 0 at -3, grad at 3).")
tanh_backward = _backward("tanh_backward", "y", "The gradient of tanh given its output y: grad · (1 - y²).")
sigmoid_backward = _backward("sigmoid_backward", "y", "The gradient of sigmoid given its output y: grad · y(1-y).")


# --- along the last axis ----------------------------------------------------------------------------------

def add_bias(x, b):
    """x + b with b broadcast along x's last axis."""
    checks.contiguous("x", x)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension, got a 0-D array")
    checks.vector("b", b, x.shape[-1], "x", x)
    return _run("add_bias", (x, b))


def sum_rows(x):
    """Sum over every axis but the last → shape (x.shape[-1],): the bias gradient of a linear layer."""
    if type(x) is np.ndarray and x.ndim >= 1 and x.dtype in checks.FLOAT_DTYPES and x.flags.c_contiguous:
        return active().sum_rows(x)  # every linear layer's backward: the common case in one expression
    checks.contiguous("x", x)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension, got a 0-D array")
    return _run("sum_rows", (x,))


def softmax(x, axis: int = -1):
    """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
    checks.contiguous("x", x)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension, got a 0-D array")
    axis = checks.axis(axis, x.ndim)
    if axis == x.ndim - 1:
        return _run("softmax", (x,))
    # Kernels reduce over the last axis; move the requested one there and back.
    return moveaxis(_run("softmax", (moveaxis(x, axis, -1),)), -1, axis)


def softmax_backward(grad, y, axis: int = -1):
    """The gradient of softmax given its output y: y · (grad - Σ grad·y) along ``axis``."""
    grad, y = _same_shaped("grad", grad, "y", y)
    if y.ndim < 1:
        raise ValueError("y must have at least 1 dimension, got a 0-D array")
    axis = checks.axis(axis, y.ndim)
    if axis == y.ndim - 1:
        return _run("softmax_backward", (grad, y))
    return moveaxis(_run("softmax_backward", (moveaxis(grad, axis, -1), moveaxis(y, axis, -1))), -1, axis)


def _layer_norm_args(x, weight, name="x"):
    checks.contiguous(name, x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last axis to normalise over, got shape {x.shape}")
    if weight is not None:
        checks.vector("weight", weight, x.shape[-1], name, x)


def layer_norm(x, weight=None, bias=None, eps: float = 1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance, like torch)."""
    _layer_norm_args(x, weight)
    if bias is not None:
        checks.vector("bias", bias, x.shape[-1], "x", x)
    return _run("layer_norm", (x, weight, bias), (checks.eps(eps),))


def layer_norm_backward(grad, x, weight=None, eps: float = 1e-5):
    """(grad_x, grad_weight, grad_bias) of layer_norm(x, weight, bias, eps) given the output gradient."""
    _layer_norm_args(x, weight)
    _same_shaped("grad", grad, "x", x)
    return _run("layer_norm_backward", (grad, x, weight), (checks.eps(eps),))


# --- reductions ---------------------------------------------------------------------------------------------

def sum(x, axes=None, keepdims: bool = False):  # noqa: A001 - the op's name, as numpy.sum / torch.sum
    """Sum over ``axes`` (an int, a tuple, or None for all), keeping them as size 1 when ``keepdims``."""
    checks.contiguous("x", x)
    axes = checks.axes(axes, x.ndim)
    return _run("sum", (x,), (axes, bool(keepdims)))


def mean(x, axes=None, keepdims: bool = False):
    """Mean over ``axes`` (an int, a tuple, or None for all); an empty reduction is NaN, like torch."""
    checks.contiguous("x", x)
    axes = checks.axes(axes, x.ndim)
    return _run("mean", (x,), (axes, bool(keepdims)))


# --- normalisation over channels ---------------------------------------------------------------------------

def _channels(x, name="x"):
    checks.contiguous(name, x)
    if x.ndim < 2:
        raise ValueError(f"{name} must be (N, C, ...) with a channel axis, got shape {x.shape}")
    return x.shape[1]


def batch_norm(x, mean, var, weight=None, bias=None, eps: float = 1e-5):
    """(x - mean) / sqrt(var + eps) · weight + bias with per-channel (axis 1) statistics and parameters."""
    c = _channels(x)
    for name, v in (("mean", mean), ("var", var), ("weight", weight), ("bias", bias)):
        if v is not None:
            checks.vector(name, v, c, "x", x)
    return _run("batch_norm", (x, mean, var, weight, bias), (checks.eps(eps),))


def batch_norm_stats(x):
    """(mean, biased variance) of each channel (axis 1) over the batch and spatial axes."""
    _channels(x)
    return _run("batch_norm_stats", (x,))


def batch_norm_backward(grad, x, mean, var, weight=None, eps: float = 1e-5):
    """(grad_x, grad_weight, grad_bias) of training-mode batch_norm (mean/var are this batch's statistics)."""
    c = _channels(x)
    _same_shaped("grad", grad, "x", x)
    for name, v in (("mean", mean), ("var", var), ("weight", weight)):
        if v is not None:
            checks.vector(name, v, c, "x", x)
    return _run("batch_norm_backward", (grad, x, mean, var, weight), (checks.eps(eps),))


# --- convolution and pooling ----------------------------------------------------------------------------------

def _conv_geometry(x, w, stride, padding, dilation, groups):
    stride = checks.pair("stride", stride, 1)
    dilation = checks.pair("dilation", dilation, 1)
    padding = checks.conv_padding(padding, w.shape[2:], dilation)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ValueError(
            f"x has {x.shape[1]} channels (shape {x.shape}) but w {w.shape} with groups={groups} expects "
            f"{w.shape[1] * groups}; out_channels ({w.shape[0]}) must be divisible by groups")
    if 0 in w.shape[2:]:
        raise ValueError(f"w has an empty kernel (shape {w.shape}): kernel sizes must be at least 1")
    for axis, size, k, s, p, d in zip("HW", x.shape[2:], w.shape[2:], stride, padding, dilation):
        if size + 2 * p < d * (k - 1) + 1:
            raise ValueError(
                f"conv2d: input {axis}={size} with padding {p} is smaller than the dilated kernel "
                f"({d * (k - 1) + 1}); the output would be empty")
    return stride, padding, dilation, int(groups)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D convolution (cross-correlation, like torch.nn.functional.conv2d) on NCHW input.

    x is (N, C, H, W), w is (O, C/groups, kh, kw), b is (O,) or None; stride, padding, dilation are ints
    or (h, w) pairs, padding may also be "valid" or "same"; groups divides C and O (groups == C is depthwise).
    """
    checks.contiguous("x", x)
    checks.contiguous("w", w)
    checks.ndim("x", x, 4)
    checks.ndim("w", w, 4)
    checks.same_dtype("x", x, "w", w)
    if b is not None:
        checks.vector("b", b, w.shape[0], "x", x)
    geometry = _conv_geometry(x, w, stride, padding, dilation, groups)
    return _run("conv2d", (x, w, b), geometry)


def conv2d_input_grad(grad, w, input_shape, stride=1, padding=0, dilation=1, groups: int = 1):
    """The gradient of conv2d with respect to its input x (of shape ``input_shape``)."""
    checks.contiguous("grad", grad)
    checks.contiguous("w", w)
    checks.same_dtype("grad", grad, "w", w)
    input_shape = tuple(int(d) for d in input_shape)
    geometry = _conv_geometry(_Shape(input_shape), w, stride, padding, dilation, groups)
    opset.infer("conv2d_input_grad", (grad, w), dict(zip(("stride", "padding", "dilation", "groups"), geometry),
                                                    input_shape=input_shape))
    return _run("conv2d_input_grad", (grad, w), (input_shape, *geometry))


def conv2d_weight_grad(grad, x, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1):
    """The gradient of conv2d with respect to its weight (of spatial size ``kernel_size``)."""
    checks.contiguous("grad", grad)
    checks.contiguous("x", x)
    checks.same_dtype("grad", grad, "x", x)
    kernel_size = checks.pair("kernel_size", kernel_size, 1)
    w_shape = _Shape((grad.shape[1], x.shape[1] // max(int(groups), 1), *kernel_size))
    geometry = _conv_geometry(x, w_shape, stride, padding, dilation, groups)
    opset.infer("conv2d_weight_grad", (grad, x), dict(zip(("stride", "padding", "dilation", "groups"), geometry),
                                                     kernel_size=kernel_size))
    return _run("conv2d_weight_grad", (grad, x), (kernel_size, *geometry))


class _Shape:
    """Something with a .shape, for geometry checks of an array that does not exist yet."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def _pool_params(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    checks.contiguous("x", x)
    checks.ndim("x", x, 4)
    kernel_size = checks.pair("kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None or stride == () or stride == [] else checks.pair("stride", stride, 1)
    params = dict(kernel_size=kernel_size, stride=stride, padding=checks.pair("padding", padding, 0),
                  dilation=checks.pair("dilation", dilation, 1), ceil_mode=bool(ceil_mode))
    return params


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
    """Max over kh×kw windows of NCHW input (NaN propagates), like torch.nn.functional.max_pool2d."""
    p = _pool_params("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    opset.infer("max_pool2d", (x,), p)
    return _run("max_pool2d", (x,), tuple(p.values()))


def max_pool2d_backward(grad, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
    """The gradient of max_pool2d: each window's gradient goes to its (first) maximum."""
    p = _pool_params("max_pool2d_backward", x, kernel_size, stride, padding, dilation, ceil_mode)
    checks.contiguous("grad", grad)
    checks.same_dtype("x", x, "grad", grad)
    opset.infer("max_pool2d_backward", (grad, x), p)
    return _run("max_pool2d_backward", (grad, x), tuple(p.values()))


def _avg_params(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    p = _pool_params("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    del p["dilation"]
    return {**p, "count_include_pad": bool(count_include_pad), "dilation": (1, 1)}


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
    """Mean over kh×kw windows of NCHW input, like torch.nn.functional.avg_pool2d."""
    p = _avg_params(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
    opset.infer("avg_pool2d", (x,), p)
    return _run("avg_pool2d", (x,), tuple(p.values()))


def avg_pool2d_backward(grad, x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                        count_include_pad: bool = True):
    """The gradient of avg_pool2d."""
    p = _avg_params(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
    checks.contiguous("grad", grad)
    checks.same_dtype("x", x, "grad", grad)
    opset.infer("avg_pool2d_backward", (grad, x), p)
    return _run("avg_pool2d_backward", (grad, x), tuple(p.values()))


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed (oh, ow) output, like torch.nn.functional.adaptive_avg_pool2d."""
    checks.contiguous("x", x)
    checks.ndim("x", x, 4)
    return _run("adaptive_avg_pool2d", (x,), (checks.pair("output_size", output_size, 1),))


def adaptive_avg_pool2d_backward(grad, x, output_size):
    """The gradient of adaptive_avg_pool2d."""
    checks.contiguous("x", x)
    checks.contiguous("grad", grad)
    output_size = checks.pair("output_size", output_size, 1)
    opset.infer("adaptive_avg_pool2d_backward", (grad, x), dict(output_size=output_size))
    return _run("adaptive_avg_pool2d_backward", (grad, x), (output_size,))


# --- indexing and layout ------------------------------------------------------------------------------------

def embedding(weight, indices):
    """weight[indices]: rows of a (num_embeddings, dim) table picked by int64 indices of any shape."""
    checks.contiguous("weight", weight)
    checks.ndim("weight", weight, 2)
    checks.indices("indices", indices)
    return _run("embedding", (weight, indices))


def embedding_backward(grad, indices, num_weights: int, padding_idx: int = -1):
    """The gradient of embedding: grad rows summed into a (num_weights, dim) array. The rows of grad whose index
    is ``padding_idx`` add nothing, as torch's padding row gets no gradient; -1: no padding row."""
    checks.contiguous("grad", grad)
    checks.indices("indices", indices)
    opset.infer("embedding_backward", (grad, indices), dict(num_weights=int(num_weights), padding_idx=padding_idx))
    return _run("embedding_backward", (grad, indices), (int(num_weights), int(padding_idx)))


def cat(xs, axis: int = 0):
    """Concatenate arrays of one dtype along ``axis`` (their other dimensions must match)."""
    if not isinstance(xs, (list, tuple)) or not xs:
        raise ValueError(f"xs must be a non-empty list of arrays, got {type(xs).__name__}")
    xs = [checks.contiguous(f"xs[{i}]", x) for i, x in enumerate(xs)]
    if xs[0].ndim == 0:
        raise ValueError("cat needs arrays with at least 1 dimension, got 0-D xs[0]")
    axis = checks.axis(axis, xs[0].ndim)
    opset.infer("cat", (xs,), dict(axis=axis))
    return _run("cat", (xs,), (axis,))


def as_strided(x, shape, strides, offset: int = 0):
    """A dense copy of the view of x's flat elements given by shape, strides and offset (in elements).

    The one layout op a device needs: transposes, permutations, broadcasts (stride 0) and slices are all
    views of this kind. It moves bfloat16 too (the GEMMs' operands: a transposed bf16 weight).
    """
    checks.contiguous("x", x, checks.GEMM_DTYPES)
    shape, strides = tuple(int(d) for d in shape), tuple(int(s) for s in strides)
    opset.infer("copy_strided", (x,), dict(shape=shape, strides=strides, offset=int(offset)))
    return _run("copy_strided", (x,), (shape, strides, int(offset)))


def permute(x, axes):
    """x with its axes reordered (``np.transpose(x, axes)``), as a new dense array."""
    checks.contiguous("x", x)
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"axes must be a permutation of range({x.ndim}), got {axes}")
    strides = _dense_strides(x.shape)
    return as_strided(x, [x.shape[a] for a in axes], [strides[a] for a in axes])


def moveaxis(x, source: int, destination: int):
    """x with axis ``source`` moved to ``destination`` (``np.moveaxis``), as a new dense array."""
    order = [a for a in range(x.ndim) if a != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return permute(x, order)


def _dense_strides(shape) -> list[int]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return strides[::-1]


def cast(x, dtype):
    """x converted to float32, float64 or bfloat16 (rounded to nearest even, NaN kept)."""
    checks.floating("x", x, checks.GEMM_DTYPES)
    dtype = np.dtype(dtype)
    if dtype not in checks.GEMM_DTYPES:
        raise TypeError(f"dtype must be float32, float64 or bfloat16, got {dtype}")
    return _run("cast", (checks.contiguous("x", x, checks.GEMM_DTYPES),), (dtype.name,))


# --- factories ----------------------------------------------------------------------------------------------

def full(shape, value: float, dtype=np.float32, device=None):
    """A new array of ``shape`` filled with ``value``: a DeviceArray when ``device`` is given, else NumPy."""
    return _factory("fill", shape, dtype, device, value=checks.scalar("value", value))


def random_normal(shape, seed: int, offset: int = 0, mean: float = 0.0, std: float = 1.0, dtype=np.float32,
                  device=None):
    """N(mean, std²) samples of a counter-based (Philox) stream: the same (seed, offset) gives the same numbers
    on every driver, so a device generator is reproducible."""
    return _factory("random_normal", shape, dtype, device, seed=int(seed), offset=int(offset),
                    mean=checks.scalar("mean", mean), std=checks.scalar("std", std))


def random_uniform(shape, seed: int, offset: int = 0, low: float = 0.0, high: float = 1.0, dtype=np.float32,
                   device=None):
    """U[low, high) samples of a counter-based (Philox) stream (see random_normal)."""
    return _factory("random_uniform", shape, dtype, device, seed=int(seed), offset=int(offset),
                    low=checks.scalar("low", low), high=checks.scalar("high", high))


def _factory(op, shape, dtype, device, **params):
    from .array import resolve_driver

    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    params = dict(shape=shape, dtype=np.dtype(dtype).name, **params)
    opset.infer(op, (), params)
    if device is None:
        return getattr(active(), op)(**params)
    return dispatch.on_device(resolve_driver(device), op, (), params)[0]


def _op_shape(x, transposed: bool) -> str:
    rows, cols = (x.shape[1], x.shape[0]) if transposed else x.shape
    return f"{rows}×{cols}"
