"""The backend protocol: what a device must implement to run the HAL op API.

A backend is one file holding one subclass of :class:`Backend`. The op layer
(:mod:`halkit.hal.ops`) validates every argument before a backend sees it, so
a kernel may assume: NumPy arrays, C-contiguous, one float dtype (float32 or
float64) across all operands, shapes already checked. A kernel must return a
NEW array — never an input or a view of one (torch's custom-op contract).

Only the primitives below are abstract; composite ops (conv2d) come with a
default decomposition onto the primitives that a backend may override with a
faster kernel, the way torch decompositions work.
"""
from __future__ import annotations

import abc

import numpy as np

from .im2col import im2col, output_size


class Backend(abc.ABC):
    #: the name users pass to ``halkit.hal.use``; set by each subclass.
    name: str = ""

    # --- primitives every backend implements -------------------------------
    @abc.abstractmethod
    def gemm(self, a, b, trans_a: bool, trans_b: bool, bias, activation) -> np.ndarray:
        """activation(op(a) @ op(b) + bias); op(a) is M×K, op(b) is K×N, bias is (N,) or None."""

    @abc.abstractmethod
    def relu(self, x) -> np.ndarray: ...

    @abc.abstractmethod
    def gelu(self, x) -> np.ndarray:
        """Exact GELU, x·Φ(x) with the erf form (torch's default)."""

    @abc.abstractmethod
    def add_bias(self, x, b) -> np.ndarray:
        """x + b, b broadcast along the last axis."""

    @abc.abstractmethod
    def sum_rows(self, x) -> np.ndarray:
        """Sum over every axis but the last: the bias gradient of a linear layer."""

    @abc.abstractmethod
    def softmax(self, x) -> np.ndarray:
        """Softmax over the last axis."""

    @abc.abstractmethod
    def layer_norm(self, x, weight, bias, eps: float) -> np.ndarray:
        """Normalise over the last axis (biased variance), then scale and shift."""

    @abc.abstractmethod
    def add(self, a, b) -> np.ndarray: ...

    @abc.abstractmethod
    def mul(self, a, b) -> np.ndarray: ...

    @abc.abstractmethod
    def relu_backward(self, grad, x) -> np.ndarray:
        """grad · 1[x > 0]."""

    @abc.abstractmethod
    def gelu_backward(self, grad, x) -> np.ndarray:
        """grad · d gelu(x)/dx."""

    # --- optional knobs ----------------------------------------------------
    def set_num_threads(self, n: int) -> None:
        """Backends without their own thread pool ignore the thread count."""

    # --- composite ops with a default decomposition ------------------------
    def conv2d(self, x, w, b, stride, padding, dilation) -> np.ndarray:
        """NCHW convolution as im2col + one GEMM with the bias fused in."""
        n, _, h, width = x.shape
        out_c, _, kh, kw = w.shape
        out_h = output_size(h, kh, stride[0], padding[0], dilation[0])
        out_w = output_size(width, kw, stride[1], padding[1], dilation[1])
        cols = im2col(x, (kh, kw), stride, padding, dilation)
        rows = self.gemm(cols, w.reshape(out_c, -1), False, True, b, None)
        return np.ascontiguousarray(rows.reshape(n, out_h, out_w, out_c).transpose(0, 3, 1, 2))

    def __repr__(self) -> str:
        return f"<halkit backend {self.name!r}>"

