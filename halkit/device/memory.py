"""Device memory: an allocator that enforces the capacity, device Buffers the host cannot touch, pinned host buffers.

A Buffer is a range of device bytes with a default view (shape, dtype); the
driver allocates raw byte buffers (uint8) and DeviceArrays view them at byte
offsets. The bytes live in host RAM (this is a mock) but only the device's own
commands may read or write them: every host access path (``np.asarray``,
indexing, iteration) raises HostAccessError, so code above the HAL copies, as
it must on a real PCIe device.

Lifetime is stream-ordered, as in IREE and ``cudaFreeAsync``: each enqueued
command holds a use of the buffers it touches, and ``free()`` only marks the
buffer — its memory goes back to the allocator when the last use ends.
``free()`` never blocks and never waits for a lock another party may hold (it
takes the allocator's lock only if it is free this instant, else leaves the
buffer on a queue the allocator drains), so a garbage-collector finalizer can
free a buffer from any thread at any moment, a stream's own worker included.
"""
from __future__ import annotations

import collections
import math
import threading

import numpy as np

from halkit.hal.errors import BufferFreedError, DeviceError, HostAccessError, OutOfMemoryError

#: what a Buffer may hold: the float dtypes ops compute in, int64 indices, and raw bytes (driver allocations).
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.uint8))


def _shape_and_dtype(shape, dtype) -> tuple[tuple[int, ...], np.dtype]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ValueError(f"shape must be non-negative ints, got {shape!r}")
    dtype = np.dtype(dtype)
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"device buffers hold float32 or float64 (int64 for indices, uint8 for raw bytes), "
                        f"got dtype {dtype}")
    return tuple(int(d) for d in shape), dtype


class Allocator:
    """Counts device bytes against the capacity and returns freed buffers; thread-safe, fork-aware."""

    def __init__(self, capacity: int, device_name: str):
        self.capacity = int(capacity)
        self._device_name = device_name
        self.lock = threading.Lock()  # guards the counters and every buffer's use count
        self._freed: collections.deque = collections.deque()  # freed by the host, returned when unused
        self.used = self.peak = self.allocations = self.frees = self.live = 0

    def allocate(self, nbytes: int) -> np.ndarray:
        """Reserve ``nbytes`` and back them with host memory; OutOfMemoryError (nothing reserved) when either fails."""
        with self.lock:
            self._collect()
            free = self.capacity - self.used
            if nbytes > free:
                raise OutOfMemoryError(
                    f"device {self._device_name!r} out of memory: requested {nbytes:,} bytes but only "
                    f"{free:,} of {self.capacity:,} are free ({self.live} live buffers); free buffers or "
                    "create the Device with a larger memory_bytes"
                )
            self.used += nbytes
        try:
            storage = np.empty(nbytes, np.uint8)
        except MemoryError as exc:  # the mock's memory is host RAM: the host can run out before the device does
            with self.lock:
                self.used -= nbytes
            raise OutOfMemoryError(
                f"device {self._device_name!r} out of memory: the host could not back {nbytes:,} bytes of mock "
                f"device memory ({exc}); allocate less or give the Device a memory_bytes the host can hold"
            ) from None
        with self.lock:
            self.peak = max(self.peak, self.used)
            self.allocations += 1
            self.live += 1
        return storage

    def free(self, buffer: "Buffer") -> None:
        """Queue ``buffer``'s return; done at once when the lock is free this instant (never waits)."""
        self._freed.append(buffer)
        if self.lock.acquire(blocking=False):  # False also when this very thread holds it (a finalizer inside)
            try:
                self._collect()
            finally:
                self.lock.release()

    def acquire_use(self, buffer: "Buffer", what: str) -> None:
        with self.lock:
            if buffer.freed:
                raise BufferFreedError(f"use after free: {what} uses {buffer!r}, which was freed")
            buffer._uses += 1

    def release_use(self, buffer: "Buffer") -> None:
        with self.lock:
            buffer._uses -= 1
            if buffer._uses == 0 and buffer.freed:
                self._return(buffer)
            self._collect()  # frees that found the lock taken are returned here, soon after

    def _collect(self) -> None:
        """Return the queued buffers no command uses any more (lock held); the others go when their use ends."""
        while self._freed:
            buffer = self._freed.popleft()
            if buffer._uses == 0:
                self._return(buffer)

    def _return(self, buffer: "Buffer") -> None:
        if buffer._storage is None:  # already returned (freed and its last use ended at the same moment)
            return
        buffer._storage = None
        self.used -= buffer.nbytes
        self.frees += 1
        self.live -= 1

    def stats(self) -> dict:
        with self.lock:
            self._collect()
            return dict(capacity=self.capacity, used=self.used, free=self.capacity - self.used, peak=self.peak,
                        allocations=self.allocations, frees=self.frees, live_buffers=self.live)

    def reset_peak(self) -> None:
        with self.lock:
            self.peak = self.used

    def after_fork_in_child(self) -> None:
        # Another thread of the parent may have held the lock at the fork; the child has only this thread.
        self.lock = threading.Lock()


class Buffer:
    """Device memory with a default view (shape, dtype). Read it with a copy (Stream.copy_to_host), never directly."""

    def __init__(self, device, shape, dtype):
        self.shape, self.dtype = _shape_and_dtype(shape, dtype)
        self.nbytes = math.prod(self.shape) * self.dtype.itemsize
        self.device = device
        self._uses = 0  # commands enqueued but not finished that touch this buffer (under the allocator's lock)
        self.freed = False
        self._storage = device.allocator.allocate(self.nbytes)

    def free(self) -> None:
        """Return the memory once the commands already enqueued on it have run; returns at once."""
        if self.freed:
            raise BufferFreedError(f"double free of {self!r}")
        self.freed = True
        self.device.allocator.free(self)

    # --- the device side: what commands read and write -------------------------------------------------
    def _view(self, offset: int, shape, dtype) -> np.ndarray:
        """The bytes [offset, offset + size) as an array of ``shape`` and ``dtype`` (no copy)."""
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        return self._storage[offset:offset + nbytes].view(dtype).reshape(shape)

    def _device_view(self) -> np.ndarray:
        return self._view(0, self.shape, self.dtype)

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
        state = " freed" if self.freed else ""
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
