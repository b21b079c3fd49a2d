"""The numpy driver: the reference semantics every other driver is tested against.

It needs no compiler and is always available. Each kernel is the plainest
correct NumPy expression of its op (one method per op of the op set, inputs
in declared order then parameters), and returns a NEW array — never an input
or a view of one, and never a NumPy scalar (0-D inputs give 0-D arrays).
Where torch defines the op, the semantics are torch's (NaN handling included).
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view
from scipy.special import erf

from ..host import HostDriver
from ..im2col import col2im, im2col
from ..opset import BFLOAT16, conv_output_size, normalize_axes

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _new(x, dtype=None) -> np.ndarray:
    """x as a new ndarray of x's (or dtype's) type: NumPy returns scalars for 0-D results."""
    return np.array(x, dtype=dtype or getattr(x, "dtype", None), copy=True, order="C")


def _gelu(x):
    return 0.5 * x * (1.0 + erf(x * x.dtype.type(_SQRT1_2)))


def _sigmoid(x):
    # exp of a negative argument only: no overflow warning for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _activate(y, activation):
    if activation == "relu":
        np.maximum(y, 0, out=y)  # np.maximum propagates NaN, like torch.relu
    elif activation == "gelu":
        y[...] = _gelu(y)
    return y


def _pairs(*values):
    return [(v, v) if isinstance(v, (int, np.integer)) else tuple(int(i) for i in v) for v in values]


def _padded(x, padding, value):
    (ph, pw), = _pairs(padding)
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode, pad_value):
    """(N, C, OH, OW, kh, kw) windows of x padded with pad_value (extra right padding for ceil_mode)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pairs(kernel_size, stride if stride is not None else kernel_size,
                                                    padding, dilation)
    oh, ow = (conv_output_size(s, k, st, p, d, ceil_mode)
              for s, k, st, p, d in zip(x.shape[2:], (kh, kw), (sh, sw), (ph, pw), (dh, dw)))
    need_h, need_w = (oh - 1) * sh + dh * (kh - 1) + 1, (ow - 1) * sw + dw * (kw - 1) + 1
    extra_h, extra_w = max(0, need_h - x.shape[2] - 2 * ph), max(0, need_w - x.shape[3] - 2 * pw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)), constant_values=pad_value)
    windows = sliding_window_view(padded, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return windows[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]


def _avg_divisor(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """Per-output-position divisor of avg_pool2d (torch's rule: padding counts, ceil overhang does not)."""
    (kh, kw), (sh, sw), (ph, pw) = _pairs(kernel_size, stride if stride is not None else kernel_size, padding)
    h, w = x.shape[2:]
    oh = conv_output_size(h, kh, sh, ph, 1, ceil_mode)
    ow = conv_output_size(w, kw, sw, pw, 1, ceil_mode)

    def extents(size, out, k, s, p):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        if count_include_pad:
            return end - start
        return np.minimum(end, size) - np.maximum(start, 0)

    return np.outer(extents(h, oh, kh, sh, ph), extents(w, ow, kw, sw, pw)).astype(x.dtype)


def _adaptive_bins(size, out):
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


class NumpyDriver(HostDriver):
    name = "numpy"

    # --- GEMMs --------------------------------------------------------------------------------------------
    def gemm(self, a, b, bias=None, trans_a=False, trans_b=False, activation=None):
        if a.dtype == BFLOAT16:
            # bfloat16: the products of two bf16 are exact in float32; they are summed and the bias and
            # activation applied in float32, then the result is rounded once (nearest, ties to even).
            widened = self.gemm(a.astype(np.float32), b.astype(np.float32),
                                None if bias is None else bias.astype(np.float32), trans_a, trans_b, activation)
            return widened.astype(BFLOAT16)
        y = _new((a.T if trans_a else a) @ (b.T if trans_b else b))
        if bias is not None:
            y += bias
        return _activate(y, activation)

    def bmm(self, a, b, trans_a=False, trans_b=False):
        return _new(np.matmul(a.transpose(0, 2, 1) if trans_a else a, b.transpose(0, 2, 1) if trans_b else b))

    # --- convolution ------------------------------------------------------------------------------------
    def conv2d(self, x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        """Per group: im2col + one GEMM with the bias fused in."""
        stride, padding, dilation = _pairs(stride, padding, dilation)
        n, out_c = x.shape[0], w.shape[0]
        out_h, out_w = (conv_output_size(s, k, st, p, d)
                        for s, k, st, p, d in zip(x.shape[2:], w.shape[2:], stride, padding, dilation))
        per_in, per_out = x.shape[1] // groups, out_c // groups
        y = np.empty((n, out_c, out_h, out_w), x.dtype)
        for g in range(groups):
            cols = im2col(x[:, g * per_in:(g + 1) * per_in], w.shape[2:], stride, padding, dilation)
            rows = cols @ w[g * per_out:(g + 1) * per_out].reshape(per_out, -1).T
            y[:, g * per_out:(g + 1) * per_out] = rows.reshape(n, out_h, out_w, per_out).transpose(0, 3, 1, 2)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    def conv2d_input_grad(self, grad, w, input_shape=(), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        stride, padding, dilation = _pairs(stride, padding, dilation)
        n, c = input_shape[0], input_shape[1]
        per_in, per_out = c // groups, w.shape[0] // groups
        out = np.empty(tuple(input_shape), grad.dtype)
        for g in range(groups):
            g_rows = grad[:, g * per_out:(g + 1) * per_out].transpose(0, 2, 3, 1).reshape(-1, per_out)
            cols = g_rows @ w[g * per_out:(g + 1) * per_out].reshape(per_out, -1)
            out[:, g * per_in:(g + 1) * per_in] = col2im(cols, (n, per_in, *input_shape[2:]), w.shape[2:],
                                                         stride, padding, dilation)
        return out

    def conv2d_weight_grad(self, grad, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                           groups=1):
        kernel_size, stride, padding, dilation = _pairs(kernel_size, stride, padding, dilation)
        per_in, per_out = x.shape[1] // groups, grad.shape[1] // groups
        out = np.empty((grad.shape[1], per_in, *kernel_size), grad.dtype)
        for g in range(groups):
            cols = im2col(x[:, g * per_in:(g + 1) * per_in], kernel_size, stride, padding, dilation)
            g_rows = grad[:, g * per_out:(g + 1) * per_out].transpose(0, 2, 3, 1).reshape(-1, per_out)
            out[g * per_out:(g + 1) * per_out] = (g_rows.T @ cols).reshape(per_out, per_in, *kernel_size)
        return out

    # --- element-wise -----------------------------------------------------------------------------------
    def relu(self, x):
        return _new(np.maximum(x, x.dtype.type(0)))

    def gelu(self, x):
        return _new(_gelu(x))

    def tanh(self, x):
        return _new(np.tanh(x))

    def sigmoid(self, x):
        return _new(_sigmoid(x))

    def silu(self, x):
        return _new(x * _sigmoid(x))

    def hardswish(self, x):
        return _new(x * np.clip(x + 3, 0, 6) / x.dtype.type(6))

    def sqrt(self, x):
        return _new(np.sqrt(x))

    def exp(self, x):
        return _new(np.exp(x))

    def scale(self, x, alpha=1.0, beta=0.0):
        return _new(x * x.dtype.type(alpha) + x.dtype.type(beta))

    def add(self, a, b, alpha=1.0):
        return _new(a + b if alpha == 1 else a + a.dtype.type(alpha) * b)

    def mul(self, a, b):
        return _new(a * b)

    def div(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):  # IEEE results (inf, NaN), like torch
            return _new(a / b)

    def relu_backward(self, grad, x):
        # torch's threshold_backward: zero where x <= 0, the gradient elsewhere — NaN x keeps the gradient.
        return _new(np.where(x <= 0, grad.dtype.type(0), grad))

    def gelu_backward(self, grad, x):
        cdf = 0.5 * (1.0 + erf(x * x.dtype.type(_SQRT1_2)))
        pdf = np.exp(-0.5 * x * x) * x.dtype.type(_INV_SQRT_2PI)
        return _new(grad * (cdf + x * pdf))

    def tanh_backward(self, grad, y):
        return _new(grad * (1 - y * y))

    def sigmoid_backward(self, grad, y):
        return _new(grad * y * (1 - y))

    def silu_backward(self, grad, x):
        s = _sigmoid(x)
        return _new(grad * s * (1 + x * (1 - s)))

    def hardswish_backward(self, grad, x):
        # torch (2.x): 0 for x <= -3, grad for x >= 3 and for NaN x, grad·(2x + 3)/6 strictly in between.
        middle = grad * (2 * x + 3) / x.dtype.type(6)
        return _new(np.where(x <= -3, grad.dtype.type(0), np.where((x >= 3) | np.isnan(x), grad, middle)))

    # --- along the last axis ----------------------------------------------------------------------------
    def add_bias(self, x, b):
        return _new(x + b)

    def sum_rows(self, x):
        return _new(x.reshape(math.prod(x.shape[:-1]), x.shape[-1]).sum(axis=0))

    def softmax(self, x):
        if x.size == 0:
            return np.empty_like(x)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return _new(e / e.sum(axis=-1, keepdims=True))

    def softmax_backward(self, grad, y):
        return _new(y * (grad - (grad * y).sum(axis=-1, keepdims=True)))

    def layer_norm(self, x, weight=None, bias=None, eps=1e-5):
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        y = (x - mean) / np.sqrt(var + x.dtype.type(eps))
        if weight is not None:
            y *= weight
        if bias is not None:
            y += bias
        return _new(y)

    def layer_norm_backward(self, grad, x, weight=None, eps=1e-5):
        rows = math.prod(x.shape[:-1])
        g2, x2 = grad.reshape(rows, x.shape[-1]), x.reshape(rows, x.shape[-1])  # not -1: ambiguous for 0 rows
        rstd = 1 / np.sqrt(x2.var(axis=-1, keepdims=True) + x.dtype.type(eps))
        x_hat = (x2 - x2.mean(axis=-1, keepdims=True)) * rstd
        g_hat = g2 if weight is None else g2 * weight
        grad_x = rstd * (g_hat - g_hat.mean(axis=-1, keepdims=True) - x_hat * (g_hat * x_hat).mean(axis=-1, keepdims=True))
        return _new(grad_x.reshape(x.shape)), _new((g2 * x_hat).sum(axis=0)), _new(g2.sum(axis=0))

    # --- reductions -------------------------------------------------------------------------------------
    def sum(self, x, axes=None, keepdims=False):
        axes = normalize_axes("sum", axes, x.ndim) if x.ndim else ()  # a 0-D array's axis 0 is itself, as in torch
        return _new(x.sum(axis=axes, keepdims=keepdims), x.dtype)

    def mean(self, x, axes=None, keepdims=False):
        axes = normalize_axes("mean", axes, x.ndim) if x.ndim else ()
        count = math.prod(x.shape[a] for a in axes)
        with np.errstate(invalid="ignore"):  # an empty reduction is 0/0 = NaN, like torch (and no warning)
            return _new(x.sum(axis=axes, keepdims=keepdims) / x.dtype.type(count), x.dtype)

    # --- normalisation over channels --------------------------------------------------------------------
    @staticmethod
    def _channel(v, ndim):
        return v.reshape(1, -1, *([1] * (ndim - 2)))

    def batch_norm(self, x, mean, var, weight=None, bias=None, eps=1e-5):
        shape = lambda v: self._channel(v, x.ndim)  # noqa: E731
        y = (x - shape(mean)) / np.sqrt(shape(var) + x.dtype.type(eps))
        if weight is not None:
            y = y * shape(weight)
        if bias is not None:
            y = y + shape(bias)
        return _new(y, x.dtype)

    def batch_norm_stats(self, x):
        axes = (0, *range(2, x.ndim))
        return _new(x.mean(axis=axes), x.dtype), _new(x.var(axis=axes), x.dtype)

    def batch_norm_backward(self, grad, x, mean, var, weight=None, eps=1e-5):
        axes = (0, *range(2, x.ndim))
        shape = lambda v: self._channel(v, x.ndim)  # noqa: E731
        invstd = 1 / np.sqrt(var + x.dtype.type(eps))
        x_hat = (x - shape(mean)) * shape(invstd)
        grad_bias = grad.sum(axis=axes)
        grad_weight = (grad * x_hat).sum(axis=axes)
        count = x.size // max(x.shape[1], 1)
        g = grad if weight is None else grad * shape(weight)
        g_sum = g.sum(axis=axes)
        gx_sum = (g * x_hat).sum(axis=axes)
        grad_x = shape(invstd) * (g - shape(g_sum) / count - x_hat * shape(gx_sum) / count)
        return _new(grad_x, x.dtype), _new(grad_weight, x.dtype), _new(grad_bias, x.dtype)

    # --- pooling ----------------------------------------------------------------------------------------
    def max_pool2d(self, x, kernel_size=1, stride=None, padding=0, dilation=1, ceil_mode=False):
        windows = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode, -np.inf)
        flat = windows.reshape(*windows.shape[:4], -1)
        # torch propagates NaN through max pooling: a window holding NaN gives NaN.
        return _new(np.where(np.isnan(flat).any(axis=-1), np.nan, flat.max(axis=-1)), x.dtype)

    def max_pool2d_backward(self, grad, x, kernel_size=1, stride=None, padding=0, dilation=1, ceil_mode=False):
        """The gradient flows to the first maximum of each window (NaN counts as the maximum, like torch)."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pairs(kernel_size, stride if stride is not None else kernel_size,
                                                        padding, dilation)
        windows = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode, -np.inf)
        flat = windows.reshape(*windows.shape[:4], -1)
        # padding never wins a tie (an all -inf window's maximum is its first real element, as in torch), and a
        # window of padding only (padding + dilation allow one) passes no gradient at all
        real = _pool_windows(np.ones(x.shape, bool), kernel_size, stride, padding, dilation, ceil_mode, False)
        real = real.reshape(flat.shape)
        nan = np.isnan(flat)
        with np.errstate(invalid="ignore"):
            top = real & (flat == flat.max(axis=-1, keepdims=True))
        arg = np.where(nan.any(axis=-1), nan.argmax(axis=-1), top.argmax(axis=-1))
        keep = real.any(axis=-1)
        n, c, oh, ow = arg.shape
        rows = np.where(keep, np.arange(oh)[:, None] * sh - ph + (arg // kw) * dh, 0)
        cols = np.where(keep, np.arange(ow)[None, :] * sw - pw + (arg % kw) * dw, 0)
        out = np.zeros_like(x)
        ni, ci = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
        np.add.at(out, (ni[:, :, None, None], ci[:, :, None, None], rows, cols), np.where(keep, grad, 0))
        return out

    def avg_pool2d(self, x, kernel_size=1, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                   dilation=1):
        windows = _pool_windows(x, kernel_size, stride, padding, 1, ceil_mode, 0.0)
        divisor = _avg_divisor(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
        return _new(windows.sum(axis=(-2, -1)) / divisor, x.dtype)

    def avg_pool2d_backward(self, grad, x, kernel_size=1, stride=None, padding=0, ceil_mode=False,
                            count_include_pad=True, dilation=1):
        (kh, kw), (sh, sw), (ph, pw) = _pairs(kernel_size, stride if stride is not None else kernel_size, padding)
        share = grad / _avg_divisor(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
        n, c, h, w = x.shape
        oh, ow = grad.shape[2:]
        # rows/columns past the last window (floor mode) get no gradient but must exist to be sliced out
        padded = np.zeros((n, c, max((oh - 1) * sh + kh, h) + 2 * ph, max((ow - 1) * sw + kw, w) + 2 * pw), x.dtype)
        for i in range(kh):
            for j in range(kw):
                padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
        return _new(padded[:, :, ph:ph + h, pw:pw + w], x.dtype)

    def adaptive_avg_pool2d(self, x, output_size=(1, 1)):
        (oh, ow), = _pairs(output_size)
        out = np.empty((*x.shape[:2], oh, ow), x.dtype)
        for i, (h0, h1) in enumerate(_adaptive_bins(x.shape[2], oh)):
            for j, (w0, w1) in enumerate(_adaptive_bins(x.shape[3], ow)):
                out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
        return out

    def adaptive_avg_pool2d_backward(self, grad, x, output_size=(1, 1)):
        (oh, ow), = _pairs(output_size)
        out = np.zeros_like(x)
        for i, (h0, h1) in enumerate(_adaptive_bins(x.shape[2], oh)):
            for j, (w0, w1) in enumerate(_adaptive_bins(x.shape[3], ow)):
                out[:, :, h0:h1, w0:w1] += grad[:, :, i:i + 1, j:j + 1] / x.dtype.type((h1 - h0) * (w1 - w0))
        return out

    # --- indexing and layout -----------------------------------------------------------------------------
    def embedding(self, weight, indices):
        if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
            raise IndexError(f"embedding: indices must be in [0, {weight.shape[0]}), got values from "
                             f"{indices.min()} to {indices.max()}")
        return _new(weight[indices])

    def embedding_backward(self, grad, indices, num_weights=0, padding_idx=-1):
        out = np.zeros((num_weights, grad.shape[-1]), grad.dtype)
        flat, rows = indices.reshape(-1), grad.reshape(indices.size, grad.shape[-1])  # not -1: dim may be 0
        if padding_idx >= 0:  # the padding row gets no gradient
            kept = flat != padding_idx
            flat, rows = flat[kept], rows[kept]
        np.add.at(out, flat, rows)
        return out

    def cat(self, xs, axis=0):
        return _new(np.concatenate(xs, axis=axis))

    def copy_strided(self, x, shape=(), strides=(), offset=0):
        flat = x.reshape(-1)
        itemsize = flat.itemsize
        return _new(as_strided(flat[offset:], shape=tuple(shape), strides=tuple(s * itemsize for s in strides)))

    def cast(self, x, dtype="float32"):
        return _new(x, np.dtype(dtype))

    # --- factories ----------------------------------------------------------------------------------------
    def fill(self, shape=(), dtype="float32", value=0.0):
        return np.full(tuple(shape), value, np.dtype(dtype))

    def random_normal(self, shape=(), dtype="float32", seed=0, offset=0, mean=0.0, std=1.0):
        rng = np.random.Generator(np.random.Philox(key=int(seed), counter=int(offset)))
        return _new(rng.standard_normal(tuple(shape)) * std + mean, np.dtype(dtype))  # 0-D: an array, not a scalar

    def random_uniform(self, shape=(), dtype="float32", seed=0, offset=0, low=0.0, high=1.0):
        rng = np.random.Generator(np.random.Philox(key=int(seed), counter=int(offset)))
        return _new(rng.random(tuple(shape)) * (high - low) + low, np.dtype(dtype))
