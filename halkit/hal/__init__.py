"""halkit.hal — the Hardware Abstraction Layer op API and its backend registry.

Ops take NumPy arrays and return new ones; ``use(name)`` picks the backend.
This package never imports torch: it speaks NumPy only, so any framework's
adapter can sit on top of it.
"""
from .backend import Backend
from .errors import BackendUnavailableError, BuildError, HalError
from .ops import (
    add,
    add_bias,
    conv2d,
    gelu,
    gelu_backward,
    layer_norm,
    linear,
    matmul,
    mul,
    relu,
    relu_backward,
    softmax,
    sum_rows,
)
from .registry import (
    backends,
    current_backend,
    get_backend,
    get_num_threads,
    refresh,
    register_backend,
    set_num_threads,
    unavailable_backends,
    use,
)

__all__ = [
    "Backend", "BackendUnavailableError", "BuildError", "HalError",
    "add", "add_bias", "conv2d", "gelu", "gelu_backward", "layer_norm", "linear", "matmul", "mul",
    "relu", "relu_backward", "softmax", "sum_rows",
    "backends", "current_backend", "get_backend", "get_num_threads", "refresh", "register_backend",
    "set_num_threads", "unavailable_backends", "use",
]
