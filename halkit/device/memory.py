"""Device memory: an allocator that enforces the capacity, device Buffers the host cannot touch, and pinned host buffers.

A Buffer's bytes live in host RAM (this is a mock) but only the device's own
commands may read or write them: every host access path (``np.asarray``,
indexing, iteration) raises HostAccessError, so code above the HAL is forced
to copy, as it would be on a real PCIe device.

Lifetime is stream-ordered like IREE's buffers: each enqueued command holds a
use of the buffers it touches, and ``free()`` waits for those uses to finish
before the memory is returned, so freeing right after enqueueing is safe.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from .errors import BufferFreedError, DeviceError, HostAccessError, OutOfMemoryError

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _shape_and_dtype(shape, dtype) -> tuple[tuple[int, ...], np.dtype]:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ValueError(f"shape must be non-negative ints, got {shape!r}")
    dtype = np.dtype(dtype)
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"device buffers hold float32 or float64, got dtype {dtype}")
    return tuple(int(d) for d in shape), dtype


class Allocator:
    """Counts device bytes against the capacity; thread-safe."""

    def __init__(self, capacity: int, device_name: str):
        self.capacity = int(capacity)
        self._device_name = device_name
        self._lock = threading.Lock()
        self.used = self.peak = self.allocations = self.frees = self.live = 0

    def reserve(self, nbytes: int) -> None:
        with self._lock:
            free = self.capacity - self.used
            if nbytes > free:
                raise OutOfMemoryError(
                    f"device {self._device_name!r} out of memory: requested {nbytes:,} bytes but only "
                    f"{free:,} of {self.capacity:,} are free ({self.live} live buffers); free buffers or "
                    "create the Device with a larger memory_bytes"
                )
            self.used += nbytes
            self.peak = max(self.peak, self.used)
            self.allocations += 1
            self.live += 1

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.used -= nbytes
            self.frees += 1
            self.live -= 1

    def stats(self) -> dict:
        with self._lock:
            return dict(capacity=self.capacity, used=self.used, free=self.capacity - self.used, peak=self.peak,
                        allocations=self.allocations, frees=self.frees, live_buffers=self.live)


class Buffer:
    """Device memory of a fixed shape and dtype. Read it with a copy (Stream.copy_to_host), never directly."""

    def __init__(self, device, shape, dtype):
        self.shape, self.dtype = _shape_and_dtype(shape, dtype)
        self.nbytes = math.prod(self.shape) * self.dtype.itemsize
        self.device = device
        device.allocator.reserve(self.nbytes)
        self._storage = np.empty(self.shape, self.dtype)
        self._uses = 0  # commands enqueued but not finished that touch this buffer
        self._freed = False
        self._cond = threading.Condition()

    @property
    def freed(self) -> bool:
        return self._freed

    def free(self) -> None:
        """Return the memory; waits for enqueued commands that use this buffer (stream-ordered free)."""
        with self._cond:
            if self._freed:
                raise BufferFreedError(f"double free of {self!r}")
            self._freed = True
            self._cond.wait_for(lambda: self._uses == 0)
            self._storage = None
        self.device.allocator.release(self.nbytes)

    # --- used by commands (the device side) ----------------------------------
    def _acquire(self, what: str) -> None:
        with self._cond:
            if self._freed:
                raise BufferFreedError(f"use after free: {what} uses {self!r}, which was freed")
            self._uses += 1

    def _release(self) -> None:
        with self._cond:
            self._uses -= 1
            self._cond.notify_all()

    def _device_view(self) -> np.ndarray:
        return self._storage

    # --- the guard: the host has no direct path to device memory -------------
    def _no_host_access(self, *_args, **_kwargs):
        raise HostAccessError(
            f"{self!r} is device memory: the host cannot read or write it directly; copy it with "
            "stream.copy_to_host(host_array, buffer) / stream.copy_to_device(buffer, host_array)"
        )

    __array__ = __getitem__ = __setitem__ = __iter__ = __len__ = _no_host_access

    def numpy(self):
        self._no_host_access()

    def __bool__(self) -> bool:  # or `if buf:` would fall back to the guarded __len__
        return True

    def __repr__(self) -> str:
        state = " freed" if self._freed else ""
        return f"<Buffer {self.shape} {self.dtype} on {self.device.name}{state}>"


class PinnedBuffer:
    """Page-locked host memory: the host reads and writes ``.array``; copies to and from it are asynchronous.

    As with cudaHostAlloc'd memory, the caller must not touch ``.array`` while a
    copy that uses it is in flight: synchronise the stream (or an event) first.
    """

    def __init__(self, device, shape, dtype):
        shape, dtype = _shape_and_dtype(shape, dtype)
        self.device = device
        self.array = np.zeros(shape, dtype)

    shape = property(lambda self: self.array.shape)
    dtype = property(lambda self: self.array.dtype)
    nbytes = property(lambda self: self.array.nbytes)

    def __repr__(self) -> str:
        return f"<PinnedBuffer {self.shape} {self.dtype} (host, page-locked)>"


def check_same_layout(what: str, dst, src) -> None:
    """Copies need equal shape and dtype on both sides; say which differs."""
    if tuple(dst.shape) != tuple(src.shape) or np.dtype(dst.dtype) != np.dtype(src.dtype):
        raise DeviceError(
            f"{what}: size/dtype mismatch: destination is {tuple(dst.shape)} {np.dtype(dst.dtype)}, "
            f"source is {tuple(src.shape)} {np.dtype(src.dtype)}"
        )
