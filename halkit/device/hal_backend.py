"""The ``mock`` HAL backend: every op runs on the mock accelerator (copy in, launch, copy out, wait).

``HALKIT_BACKEND=mock`` or ``halkit.hal.use("mock")`` puts HALLinear, convert()
and the notebooks "on the accelerator" unchanged. Each call:

1. uploads its activations into temporary device buffers (pageable copies: staged, non-blocking);
2. finds its parameter-like operands — a GEMM's ``b`` and bias, add_bias's ``b``,
   layer_norm's weight and bias — in the ResidencyCache (see residency.py), so
   unchanged weights are not re-uploaded on every forward;
3. launches the kernel, copies the result back (pageable: blocks until done,
   re-raising any device failure) and frees the temporaries.

Calls are serialised on one stream of the device (``HALKIT_MOCK_DEVICE``,
default 0): ops are synchronous anyway, and one lock keeps a resident buffer
from being evicted by another thread between lookup and launch.
``stats()`` counts uploads, resident hits/refreshes and downloads.
"""
from __future__ import annotations

import collections
import os
import threading

import numpy as np

from halkit.hal.backend import Backend

from . import kernels
from .errors import OutOfMemoryError
from .residency import ResidencyCache

_KEEP = True  # marks an operand that should stay resident


class MockBackend(Backend):
    name = "mock"

    def __init__(self, device=None, residency_bytes: int | None = None):
        self._device = device
        self._follow_default = device is None  # re-pick device N if the one in use gets closed
        self._residency_bytes = residency_bytes
        self._lock = threading.RLock()
        self._stream = None
        self._cache: ResidencyCache | None = None
        self._counts = collections.Counter(calls=0, uploads=0, upload_bytes=0, downloads=0, download_bytes=0)

    # --- the primitives ---------------------------------------------------------
    def gemm(self, a, b, trans_a, trans_b, bias, activation):
        return self._run("gemm", [(a, False), (b, _KEEP), (bias, _KEEP)],
                         trans_a=trans_a, trans_b=trans_b, activation=activation)

    def relu(self, x):
        return self._run("relu", [(x, False)])

    def gelu(self, x):
        return self._run("gelu", [(x, False)])

    def add_bias(self, x, b):
        return self._run("add_bias", [(x, False), (b, _KEEP)])

    def sum_rows(self, x):
        return self._run("sum_rows", [(x, False)])

    def softmax(self, x):
        return self._run("softmax", [(x, False)])

    def layer_norm(self, x, weight, bias, eps):
        return self._run("layer_norm", [(x, False), (weight, _KEEP), (bias, _KEEP)], eps=eps)

    def add(self, a, b):
        return self._run("add", [(a, False), (b, False)])

    def mul(self, a, b):
        return self._run("mul", [(a, False), (b, False)])

    def relu_backward(self, grad, x):
        return self._run("relu_backward", [(grad, False), (x, False)])

    def gelu_backward(self, grad, x):
        return self._run("gelu_backward", [(grad, False), (x, False)])

    def conv2d(self, x, w, b, stride, padding, dilation):
        """On the device as one kernel (im2col + GEMM on chip), the filters kept resident like weights."""
        return self._run("conv2d", [(x, False), (w, _KEEP), (b, _KEEP)],
                         stride=stride, padding=padding, dilation=dilation)

    # --- introspection -----------------------------------------------------------
    @property
    def device(self):
        if self._device is None or (self._follow_default and self._device.closed):
            from . import get_device  # the package imports this module's siblings; resolve at first use
            self._device = get_device(int(os.environ.get("HALKIT_MOCK_DEVICE", "0")))
        return self._device

    def stats(self) -> dict:
        """calls, uploads/upload_bytes, downloads/download_bytes, and the residency cache's hits/refreshes/misses/evictions."""
        with self._lock:
            cache = self._cache.stats if self._cache is not None else {}
            return dict(self._counts) | {f"resident_{k}": v for k, v in cache.items()} | {
                "resident_bytes": self._cache.used_bytes if self._cache is not None else 0}

    def release_resident(self) -> None:
        """Free every resident buffer (e.g. before handing the device to other work)."""
        with self._lock:
            if self._cache is not None:
                self._cache.clear()

    # --- one call: copy in, launch, copy out, wait ---------------------------------
    def _run(self, kernel: str, operands, **params) -> np.ndarray:
        with self._lock:
            stream, cache = self._session()
            temporaries = []
            try:
                buffers = []
                for array, keep in operands:
                    if array is None:
                        buffers.append(None)
                    elif keep:
                        buffer, temporary = cache.get(array, self._alloc, self._upload)
                        buffers.append(buffer)
                        if temporary:
                            temporaries.append(buffer)
                    else:
                        buffer = self._alloc(array.shape, array.dtype)
                        temporaries.append(buffer)
                        self._upload(buffer, array)
                        buffers.append(buffer)
                spec = kernels.lookup(kernel)
                shape = kernels.output_shape(spec, kernels.bind(spec, buffers, params), params)
                dtype = next(a.dtype for a, _ in operands if a is not None)
                out = self._alloc(shape, dtype)
                temporaries.append(out)
                stream.launch(kernel, out, *buffers, **params)
                result = np.empty(shape, dtype)
                stream.copy_to_host(result, out)  # pageable destination: waits, re-raises device failures
                self._counts["calls"] += 1
                self._counts["downloads"] += 1
                self._counts["download_bytes"] += result.nbytes
                return result
            finally:
                for buffer in temporaries:
                    buffer.free()

    def _session(self):
        device = self.device
        if self._stream is None or self._stream.closed:
            self._stream = device.stream("hal")
            capacity = self._residency_bytes
            if capacity is None:
                capacity = min(device.allocator.capacity // 4, 1 << 30)
            self._cache = ResidencyCache(capacity)
        return self._stream, self._cache

    def _alloc(self, shape, dtype):
        try:
            return self.device.alloc(shape, dtype)
        except OutOfMemoryError:
            if not len(self._cache):
                raise
            self._cache.clear()  # resident weights are only a cache: give their memory back and retry once
            return self.device.alloc(shape, dtype)

    def _upload(self, buffer, array) -> None:
        self._stream.copy_to_device(buffer, array)
        self._counts["uploads"] += 1
        self._counts["upload_bytes"] += array.nbytes
