"""The native backend: the C++ kernels of ``halkit._native`` (built by ``python -m halkit.build``).

Each method hands the already-validated arrays straight to C++ (zero copy),
which releases the GIL while its multi-threaded kernel runs.
"""
from __future__ import annotations

from ..backend import Backend
from ..errors import BackendUnavailableError

try:
    from halkit import _native
except ImportError as exc:  # not built yet, or built for another Python
    raise BackendUnavailableError(
        f"native extension not built ({exc}): run `python -m halkit.build` "
        "(or `halkit.build()` in a notebook)"
    ) from exc

# Activation codes understood by _native.gemm.
_ACTIVATION_CODE = {None: 0, "relu": 1, "gelu": 2}


class NativeBackend(Backend):
    name = "native"

    def gemm(self, a, b, trans_a, trans_b, bias, activation):
        return _native.gemm(a, b, trans_a, trans_b, bias, _ACTIVATION_CODE[activation])

    def relu(self, x):
        return _native.relu(x)

    def gelu(self, x):
        return _native.gelu(x)

    def add_bias(self, x, b):
        return _native.add_bias(x, b)

    def sum_rows(self, x):
        return _native.sum_rows(x)

    def softmax(self, x):
        return _native.softmax(x)

    def layer_norm(self, x, weight, bias, eps):
        return _native.layer_norm(x, weight, bias, eps)

    def add(self, a, b):
        return _native.add(a, b)

    def mul(self, a, b):
        return _native.mul(a, b)

    def relu_backward(self, grad, x):
        return _native.relu_backward(grad, x)

    def gelu_backward(self, grad, x):
        return _native.gelu_backward(grad, x)

    def set_num_threads(self, n):
        _native.set_num_threads(n)

    @staticmethod
    def info() -> dict:
        """ISA path, thread count and build flags of the loaded module."""
        return dict(_native.info())
