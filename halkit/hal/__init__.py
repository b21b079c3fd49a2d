"""halkit.hal — the Hardware Abstraction Layer: the op API and the device contract under it.

* Ops (``matmul``, ``linear``, ``conv2d``, ...) take NumPy arrays or
  DeviceArrays and run on the current driver (``use(name)``) or where their
  DeviceArrays live.
* The device contract (:class:`Driver`, :class:`Capabilities`) is what one
  driver file implements: memory, copies, launches, streams and events, and a
  declaration of what the device runs and costs. ``python -m halkit.cts
  --device NAME`` checks a driver against it.

This package never imports torch: it speaks NumPy and device buffers only, so
any framework's adapter can sit on top of it.
"""
from .array import DeviceArray, empty, to_device, to_host
from .cost import Cost, DeviceSpec, SystolicArray, host_spec
from .driver import Capabilities, Driver, Link
from .errors import (
    BackendUnavailableError,
    BufferFreedError,
    BuildError,
    DeviceError,
    DeviceLostError,
    DeviceTimeoutError,
    FallbackError,
    HalError,
    HostAccessError,
    OutOfMemoryError,
    StreamError,
)
from .fallback import HostFallbackWarning, fallback_counts, reset_fallback_counts, strict
from .host import HostDriver
from .ops import (
    adaptive_avg_pool2d, adaptive_avg_pool2d_backward, add, add_bias, as_strided, avg_pool2d, avg_pool2d_backward,
    batch_norm, batch_norm_backward, batch_norm_stats, bmm, cast, cat, conv2d, conv2d_input_grad, conv2d_weight_grad,
    div, embedding, embedding_backward, exp, full, gelu, gelu_backward, hardswish, hardswish_backward, layer_norm,
    layer_norm_backward, linear, matmul, max_pool2d, max_pool2d_backward, mean, moveaxis, mul, permute,
    random_normal, random_uniform, relu, relu_backward, scale, sigmoid, sigmoid_backward, silu, silu_backward,
    softmax, softmax_backward, sqrt, sub, sum, sum_rows, tanh, tanh_backward,
)
from .registry import (
    backends,
    current_backend,
    default_accelerator,
    get_backend,
    get_num_threads,
    reference,
    refresh,
    register_backend,
    set_num_threads,
    unregister_backend,
    unavailable_backends,
    use,
)
from .streams import Event, Stream, current_stream, synchronize
from .threads import MAX_THREADS, check_num_threads, usable_cores

__all__ = [
    # the device contract
    "Driver", "HostDriver", "Capabilities", "Link", "DeviceSpec", "SystolicArray", "Cost", "host_spec",
    "DeviceArray", "to_device", "to_host", "empty", "Stream", "Event", "current_stream", "synchronize",
    # drivers
    "backends", "current_backend", "default_accelerator", "get_backend", "reference", "refresh", "register_backend",
    "unregister_backend", "unavailable_backends", "use", "get_num_threads", "set_num_threads", "check_num_threads", "usable_cores",
    "MAX_THREADS",
    # fallbacks
    "strict", "fallback_counts", "reset_fallback_counts", "HostFallbackWarning",
    # errors
    "HalError", "BackendUnavailableError", "BuildError", "DeviceError", "OutOfMemoryError", "BufferFreedError",
    "HostAccessError", "StreamError", "DeviceLostError", "DeviceTimeoutError", "FallbackError",
    # ops
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "add", "add_bias", "as_strided", "avg_pool2d",
    "avg_pool2d_backward", "batch_norm", "batch_norm_backward", "batch_norm_stats", "bmm", "cast", "cat", "conv2d",
    "conv2d_input_grad", "conv2d_weight_grad", "div", "embedding", "embedding_backward", "exp", "full", "gelu",
    "gelu_backward", "hardswish", "hardswish_backward", "layer_norm", "layer_norm_backward", "linear", "matmul",
    "max_pool2d", "max_pool2d_backward", "mean", "moveaxis", "mul", "permute", "random_normal", "random_uniform",
    "relu", "relu_backward", "scale", "sigmoid", "sigmoid_backward", "silu", "silu_backward", "softmax",
    "softmax_backward", "sqrt", "sub", "sum", "sum_rows", "tanh", "tanh_backward",
]
