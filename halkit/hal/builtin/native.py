"""The native driver: the C++ kernels of ``halkit._native`` (built by ``python -m halkit.build``).

Each method hands the already-validated arrays straight to C++ (zero copy),
which releases the GIL while its multi-threaded kernel runs. Ops without a
C++ kernel yet are inherited from the numpy reference driver — still host
memory, so no transfer — and listed by :func:`NativeDriver.reference_ops`.
"""
from __future__ import annotations

import numpy as np

from ..errors import BackendUnavailableError
from ..opset import BFLOAT16, FLOAT_DTYPES
from .numpy_reference import NumpyDriver

try:
    from halkit import _native
except ImportError as exc:  # not built yet, or built for another Python
    raise BackendUnavailableError(
        f"native extension not built ({exc}): run `python -m halkit.build` "
        "(or `halkit.build()` in a notebook)"
    ) from exc

# Activation codes understood by _native.gemm.
_ACTIVATION_CODE = {None: 0, "relu": 1, "gelu": 2}


class NativeDriver(NumpyDriver):
    name = "native"
    host_kernels = _native.host_kernels  # its GEMM, row sum and relu_backward for the C++ eager layers
    checks_gemm_arguments = True  # _native.gemm refuses what it cannot take (TypeError/ValueError)

    # --- GEMMs --------------------------------------------------------------------------------------------
    def gemm(self, a, b, bias=None, trans_a=False, trans_b=False, activation=None):
        return _native.gemm(a, b, trans_a, trans_b, bias, _ACTIVATION_CODE[activation])

    def bmm(self, a, b, trans_a=False, trans_b=False):
        return _native.bmm(a, b, trans_a, trans_b)

    # --- convolution ------------------------------------------------------------------------------------
    def conv2d(self, x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        return _native.conv2d(x, w, bias, stride, padding, dilation, groups)

    def conv2d_input_grad(self, grad, w, input_shape=(), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        return _native.conv2d_input_grad(grad, w, tuple(input_shape), stride, padding, dilation, groups)

    def conv2d_weight_grad(self, grad, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                           groups=1):
        return _native.conv2d_weight_grad(grad, x, kernel_size, stride, padding, dilation, groups)

    # --- element-wise -----------------------------------------------------------------------------------
    def relu(self, x):
        return _native.relu(x)

    def gelu(self, x):
        return _native.gelu(x)

    def tanh(self, x):
        return _native.tanh(x)

    def sigmoid(self, x):
        return _native.sigmoid(x)

    def silu(self, x):
        return _native.silu(x)

    def hardswish(self, x):
        return _native.hardswish(x)

    def sqrt(self, x):
        return _native.sqrt(x)

    def exp(self, x):
        return _native.exp(x)

    def scale(self, x, alpha=1.0, beta=0.0):
        return _native.scale(x, alpha, beta)

    def add(self, a, b, alpha=1.0):
        return _native.add(a, b, alpha)

    def mul(self, a, b):
        return _native.mul(a, b)

    def div(self, a, b):
        return _native.div(a, b)

    def relu_backward(self, grad, x):
        return _native.relu_backward(grad, x)

    def gelu_backward(self, grad, x):
        return _native.gelu_backward(grad, x)

    def tanh_backward(self, grad, y):
        return _native.tanh_backward(grad, y)

    def sigmoid_backward(self, grad, y):
        return _native.sigmoid_backward(grad, y)

    def silu_backward(self, grad, x):
        return _native.silu_backward(grad, x)

    def hardswish_backward(self, grad, x):
        return _native.hardswish_backward(grad, x)

    # --- along the last axis ----------------------------------------------------------------------------
    def add_bias(self, x, b):
        return _native.add_bias(x, b)

    def sum_rows(self, x):
        return _native.sum_rows(x)

    def softmax(self, x):
        return _native.softmax(x)

    def softmax_backward(self, grad, y):
        return _native.softmax_backward(grad, y)

    def layer_norm(self, x, weight=None, bias=None, eps=1e-5):
        return _native.layer_norm(x, weight, bias, eps)

    def layer_norm_backward(self, grad, x, weight=None, eps=1e-5):
        return _native.layer_norm_backward(grad, x, weight, eps)

    # --- reductions -------------------------------------------------------------------------------------
    def sum(self, x, axes=None, keepdims=False):
        return _native.sum(x, axes, keepdims)

    def mean(self, x, axes=None, keepdims=False):
        return _native.mean(x, axes, keepdims)

    # --- normalisation over channels --------------------------------------------------------------------
    def batch_norm(self, x, mean, var, weight=None, bias=None, eps=1e-5):
        return _native.batch_norm(x, mean, var, weight, bias, eps)

    def batch_norm_stats(self, x):
        return _native.batch_norm_stats(x)

    def batch_norm_backward(self, grad, x, mean, var, weight=None, eps=1e-5):
        return _native.batch_norm_backward(grad, x, mean, var, weight, eps)

    # --- pooling ----------------------------------------------------------------------------------------
    def max_pool2d(self, x, kernel_size=1, stride=None, padding=0, dilation=1, ceil_mode=False):
        return _native.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)

    def max_pool2d_backward(self, grad, x, kernel_size=1, stride=None, padding=0, dilation=1, ceil_mode=False):
        return _native.max_pool2d_backward(grad, x, kernel_size, stride, padding, dilation, ceil_mode)

    def avg_pool2d(self, x, kernel_size=1, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                   dilation=1):
        return _native.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, dilation)

    def avg_pool2d_backward(self, grad, x, kernel_size=1, stride=None, padding=0, ceil_mode=False,
                            count_include_pad=True, dilation=1):
        return _native.avg_pool2d_backward(grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                           dilation)

    def adaptive_avg_pool2d(self, x, output_size=(1, 1)):
        return _native.adaptive_avg_pool2d(x, output_size)

    def adaptive_avg_pool2d_backward(self, grad, x, output_size=(1, 1)):
        return _native.adaptive_avg_pool2d_backward(grad, x, output_size)

    # --- indexing and layout -----------------------------------------------------------------------------
    def embedding(self, weight, indices):
        return _native.embedding(weight, indices)

    def embedding_backward(self, grad, indices, num_weights=0, padding_idx=-1):
        return _native.embedding_backward(grad, indices, num_weights, padding_idx)

    # Layout ops move every dtype a device stores (int64 indices, bool masks); the C++ kernels move floats.
    def cat(self, xs, axis=0):
        if xs[0].dtype not in FLOAT_DTYPES:
            return super().cat(xs, axis)
        return _native.cat(xs, axis)

    def cast(self, x, dtype="float32"):
        pair = (x.dtype, np.dtype(dtype))
        if pair in ((BFLOAT16, FLOAT_DTYPES[0]), (FLOAT_DTYPES[0], BFLOAT16)):  # vectorised; the rest: the reference
            return _native.cast_bf16(x)
        return super().cast(x, dtype)

    def copy_strided(self, x, shape=(), strides=(), offset=0):
        if x.dtype not in FLOAT_DTYPES:
            return super().copy_strided(x, shape, strides, offset)
        return _native.copy_strided(x, shape, strides, offset)

    def set_num_threads(self, n):
        _native.set_num_threads(n)

    @classmethod
    def reference_ops(cls) -> list[str]:
        """Ops this driver runs with the inherited NumPy reference kernel rather than C++."""
        from ..opset import OPS

        return sorted(op for op in OPS if getattr(cls, op) is getattr(NumpyDriver, op))

    @staticmethod
    def info() -> dict:
        """ISA path, thread count and build flags of the loaded module."""
        return dict(_native.info())
