"""The NumPy backend: the reference semantics every other backend is tested against.

It needs no compiler and is always available. Each kernel is the plainest
correct NumPy expression of the op, written to return a new array.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from ..backend import Backend


def _gelu(x):
    return 0.5 * x * (1.0 + erf(x * x.dtype.type(1.0 / math.sqrt(2.0))))


def _activate(y, activation):
    if activation == "relu":
        np.maximum(y, 0, out=y)  # np.maximum propagates NaN, like torch.relu
    elif activation == "gelu":
        y[...] = _gelu(y)
    return y


class NumpyBackend(Backend):
    name = "numpy"

    def gemm(self, a, b, trans_a, trans_b, bias, activation):
        y = (a.T if trans_a else a) @ (b.T if trans_b else b)
        if bias is not None:
            y += bias
        return _activate(y, activation)

    def relu(self, x):
        return np.maximum(x, x.dtype.type(0))

    def gelu(self, x):
        return _gelu(x)

    def add_bias(self, x, b):
        return x + b

    def sum_rows(self, x):
        return x.reshape(math.prod(x.shape[:-1]), x.shape[-1]).sum(axis=0)

    def softmax(self, x):
        if x.size == 0:
            return np.empty_like(x)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def layer_norm(self, x, weight, bias, eps):
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        y = (x - mean) / np.sqrt(var + x.dtype.type(eps))
        if weight is not None:
            y *= weight
        if bias is not None:
            y += bias
        return y

    def add(self, a, b):
        return a + b

    def mul(self, a, b):
        return a * b

    def relu_backward(self, grad, x):
        return grad * (x > 0)

    def gelu_backward(self, grad, x):
        cdf = 0.5 * (1.0 + erf(x * x.dtype.type(1.0 / math.sqrt(2.0))))
        pdf = np.exp(-0.5 * x * x) * x.dtype.type(1.0 / math.sqrt(2.0 * math.pi))
        return grad * (cdf + x * pdf)
