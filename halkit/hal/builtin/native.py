"""The native driver: the C++ kernels of ``halkit._native`` (built by ``python -m halkit.build``).

Each method hands the already-validated arrays straight to C++ (zero copy),
which releases the GIL while its multi-threaded kernel runs. Ops without a
C++ kernel yet are inherited from the numpy reference driver — still host
memory, so no transfer — and listed by :func:`NativeDriver.reference_ops`.
"""
from __future__ import annotations

import numpy as np

from ..errors import BackendUnavailableError
from ..im2col import im2col
from ..opset import conv_output_size
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

    # --- GEMMs --------------------------------------------------------------------------------------------
    def gemm(self, a, b, bias=None, trans_a=False, trans_b=False, activation=None):
        return _native.gemm(a, b, trans_a, trans_b, bias, _ACTIVATION_CODE[activation])

    def bmm(self, a, b, trans_a=False, trans_b=False):
        return _native.bmm(a, b, trans_a, trans_b)

    # --- convolution ------------------------------------------------------------------------------------
    def conv2d(self, x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        """Per group: im2col (NumPy) + one native GEMM with the bias fused in."""
        n, out_c = x.shape[0], w.shape[0]
        out_h, out_w = (conv_output_size(s, k, st, p, d)
                        for s, k, st, p, d in zip(x.shape[2:], w.shape[2:], stride, padding, dilation))
        per_in, per_out = x.shape[1] // groups, out_c // groups
        y = np.empty((n, out_c, out_h, out_w), x.dtype)
        for g in range(groups):
            # im2col's reshape may be a strided view: the GEMM takes dense operands only.
            cols = np.ascontiguousarray(im2col(x[:, g * per_in:(g + 1) * per_in], w.shape[2:], stride, padding,
                                               dilation))
            weights = np.ascontiguousarray(w[g * per_out:(g + 1) * per_out].reshape(per_out, -1))
            group_bias = None if bias is None else np.ascontiguousarray(bias[g * per_out:(g + 1) * per_out])
            rows = _native.gemm(cols, weights, False, True, group_bias, 0)
            y[:, g * per_out:(g + 1) * per_out] = rows.reshape(n, out_h, out_w, per_out).transpose(0, 3, 1, 2)
        return y

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
