"""The HAL op API: validate the arguments, then run the op on the calling thread's backend.

Inputs are NumPy arrays (float32 or float64, one dtype per call); every op
returns a new array. Semantics are those of the numpy backend.
"""
from __future__ import annotations

import math

import numpy as np

from . import checks
from .registry import active


def matmul(a: np.ndarray, b: np.ndarray, trans_a: bool = False, trans_b: bool = False) -> np.ndarray:
    """op(a) @ op(b) for 2-D a, b, where op transposes when its flag is set (no copy is made)."""
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
    return active().gemm(a, b, trans_a, trans_b, None, None)


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, activation: str | None = None) -> np.ndarray:
    """activation(x @ w.T + b) in one pass, like torch.nn.functional.linear (+ a fused activation).

    x is (..., in_features), w is (out_features, in_features), b is (out_features,) or None,
    activation is None, "relu" or "gelu". Leading dims of x are kept.
    """
    checks.contiguous("x", x)
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
        checks.vector("b", b, out_features, "x", x)
    activation = checks.activation(activation)
    rows = math.prod(x.shape[:-1])  # not reshape(-1, K): that is ambiguous when K == 0
    y = active().gemm(x.reshape(rows, in_features), w, False, not w_t, b, activation)
    return y.reshape(*x.shape[:-1], out_features)


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0) element-wise; NaN stays NaN."""
    return active().relu(checks.contiguous("x", x))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU x·Φ(x) element-wise (torch's default, erf form)."""
    return active().gelu(checks.contiguous("x", x))


def add_bias(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x + b with b broadcast along x's last axis."""
    checks.contiguous("x", x)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension, got a 0-D array")
    checks.vector("b", b, x.shape[-1], "x", x)
    return active().add_bias(x, b)


def sum_rows(x: np.ndarray) -> np.ndarray:
    """Sum over every axis but the last → shape (x.shape[-1],): the bias gradient of a linear layer."""
    checks.contiguous("x", x)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension, got a 0-D array")
    return active().sum_rows(x)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
    checks.contiguous("x", x)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension, got a 0-D array")
    axis = checks.axis(axis, x.ndim)
    if axis == x.ndim - 1:
        return active().softmax(x)
    # Kernels reduce over the last axis; move the requested one there and back.
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    return np.ascontiguousarray(np.moveaxis(active().softmax(moved), -1, axis))


def layer_norm(
    x: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None, eps: float = 1e-5
) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance, like torch)."""
    checks.contiguous("x", x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last axis to normalise over, got shape {x.shape}")
    for name, v in (("weight", weight), ("bias", bias)):
        if v is not None:
            checks.vector(name, v, x.shape[-1], "x", x)
    return active().layer_norm(x, weight, bias, checks.eps(eps))


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b element-wise for arrays of equal shape."""
    return active().add(*_same_shaped("a", a, "b", b))


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b element-wise for arrays of equal shape."""
    return active().mul(*_same_shaped("a", a, "b", b))


def relu_backward(grad: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The gradient of relu at x: grad where x > 0, else 0."""
    return active().relu_backward(*_same_shaped("grad", grad, "x", x))


def gelu_backward(grad: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The gradient of gelu at x: grad · (Φ(x) + x·φ(x))."""
    return active().gelu_backward(*_same_shaped("grad", grad, "x", x))


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> np.ndarray:
    """2-D convolution (cross-correlation, like torch.nn.functional.conv2d) on NCHW input.

    x is (N, C, H, W), w is (O, C, kh, kw), b is (O,) or None; stride, padding,
    dilation are ints or (h, w) pairs. Only groups=1 is supported.
    """
    checks.contiguous("x", x)
    checks.contiguous("w", w)
    checks.ndim("x", x, 4)
    checks.ndim("w", w, 4)
    checks.same_dtype("x", x, "w", w)
    if groups != 1:
        raise ValueError(f"groups must be 1 (grouped and depthwise convolutions are not supported), got {groups!r}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels (shape {x.shape}) but w expects {w.shape[1]} (w is {w.shape})")
    if b is not None:
        checks.vector("b", b, w.shape[0], "x", x)
    stride = checks.pair("stride", stride, 1)
    padding = checks.pair("padding", padding, 0)
    dilation = checks.pair("dilation", dilation, 1)
    for axis, size, k, s, p, d in zip("HW", x.shape[2:], w.shape[2:], stride, padding, dilation):
        if size + 2 * p < d * (k - 1) + 1:
            raise ValueError(
                f"conv2d: input {axis}={size} with padding {p} is smaller than the dilated kernel "
                f"({d * (k - 1) + 1}); the output would be empty"
            )
    return active().conv2d(x, w, b, stride, padding, dilation)


def _same_shaped(a_name, a, b_name, b):
    checks.contiguous(a_name, a)
    checks.contiguous(b_name, b)
    checks.same_dtype(a_name, a, b_name, b)
    checks.same_shape(a_name, a, b_name, b)
    return a, b


def _op_shape(x: np.ndarray, transposed: bool) -> str:
    rows, cols = (x.shape[1], x.shape[0]) if transposed else x.shape
    return f"{rows}×{cols}"
