"""Device: one mock accelerator — its spec, memory, streams, engines and trace, and a clean shutdown.

Worker threads are not daemons: ``close()`` (or ``with Device(...)``) drains
and joins them. Devices still open when the interpreter exits are closed by a
hook that runs *before* Python joins non-daemon threads (the hook
concurrent.futures uses for the same reason), so a forgotten close never
hangs interpreter exit.
"""
from __future__ import annotations

import atexit
import itertools
import threading
import time
import warnings
import weakref

import numpy as np
from halkit import hal

from halkit.hal.schedule import EngineSchedule
from .errors import DeviceError
from .memory import Allocator, Buffer, PinnedBuffer
from .spec import DeviceSpec, preset
from .stream import Event, Stream
from .trace import Trace

_open_devices: "weakref.WeakSet[Device]" = weakref.WeakSet()


class Device:
    """A mock accelerator.

    ``spec``: a DeviceSpec or a preset name ("a100-pcie", "tpu-v1", "edge-npu").
    ``memory_bytes``: capacity override (default ``spec.memory_bytes``).
    ``kernel_backend``: the HAL backend (name or object) whose kernels compute
    the results; default native when built, else numpy.
    """

    def __init__(self, spec: DeviceSpec | str = "a100-pcie", *, memory_bytes: int | None = None,
                 kernel_backend=None, name: str | None = None, trace_capacity: int = 100_000):
        self.spec = preset(spec) if isinstance(spec, str) else spec
        if not isinstance(self.spec, DeviceSpec):
            raise TypeError(f"spec must be a DeviceSpec or a preset name, got {type(spec).__name__}")
        self.name = name or self.spec.name
        capacity = self.spec.memory_bytes if memory_bytes is None else memory_bytes
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"memory_bytes must be a non-negative int, got {capacity!r}")
        self.allocator = Allocator(capacity, self.name)
        self.kernel_backend = _resolve_backend(kernel_backend)
        self.engines = EngineSchedule()
        self.trace = Trace(self.name, trace_capacity)
        self._real_origin = time.perf_counter()
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._stream_ids = itertools.count()
        self._host_time = 0.0  # modelled time the host has observed (by waiting on the device)
        self._streams: list[Stream] = []
        self._default_stream: Stream | None = None
        self._unreported_failures = []
        self._closed = False
        _open_devices.add(self)

    # --- memory ---------------------------------------------------------------
    def alloc(self, shape, dtype="float32") -> Buffer:
        """Device memory of ``shape``/``dtype``; raises OutOfMemoryError naming requested and free bytes."""
        self._check_open()
        return Buffer(self, shape, dtype)

    def free(self, buffer: Buffer) -> None:
        buffer.free()

    def alloc_pinned(self, shape, dtype="float32") -> PinnedBuffer:
        """Page-locked host memory for asynchronous copies."""
        return PinnedBuffer(self, shape, dtype)

    def memory_stats(self) -> dict:
        """capacity, used, free, peak (bytes) and allocation counts."""
        return self.allocator.stats()

    # --- streams and events -------------------------------------------------------
    def stream(self, name: str | None = None) -> Stream:
        """A new stream with its own worker thread (closed with the device)."""
        self._check_open()
        with self._lock:
            stream = Stream(self, name or f"stream{next(self._stream_ids)}")
            self._streams.append(stream)
        return stream

    @property
    def default_stream(self) -> Stream:
        with self._lock:
            if self._default_stream is None:
                self._check_open()
                self._default_stream = Stream(self, "default")
                self._streams.append(self._default_stream)
            return self._default_stream

    def event(self) -> Event:
        return Event()

    def synchronize(self, timeout: float | None = None) -> None:
        """Wait for every stream; raises the first stream failure not yet reported."""
        for stream in list(self._streams):
            if not stream.closed:
                stream.synchronize(timeout)

    # --- conveniences for notebooks -------------------------------------------
    def to_device(self, array, stream: Stream | None = None) -> Buffer:
        """Allocate a buffer like ``array`` and copy it in (staged: the array may be reused at once)."""
        buffer = self.alloc(array.shape, array.dtype)
        (stream or self.default_stream).copy_to_device(buffer, array)
        return buffer

    def to_host(self, buffer: Buffer, stream: Stream | None = None):
        """A new NumPy array holding ``buffer``'s contents (waits for the copy)."""
        out = np.empty(buffer.shape, buffer.dtype)
        (stream or self.default_stream).copy_to_host(out, buffer)
        return out

    # --- lifetime -------------------------------------------------------------------
    def close(self) -> None:
        """Finish queued work and join every worker thread. Idempotent; failures nobody synchronised on are warned about."""
        with self._lock:
            self._closed = True
            streams, self._streams = self._streams, []
            self._default_stream = None
        for stream in streams:
            stream.close()
        _open_devices.discard(self)
        for failure in self._unreported_failures:
            warnings.warn(f"device {self.name!r} closed with an unreported failure: {failure.exception()}",
                          RuntimeWarning, stacklevel=2)
        self._unreported_failures.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Device {self.name!r} spec={self.spec.name!r} memory={self.allocator.capacity:,} B"
                f"{' closed' if self._closed else ''}>")

    # --- used by streams ----------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError(f"device {self.name!r} is closed")

    def _next_index(self) -> int:
        return next(self._counter)

    def _host_model_time(self) -> float:
        return self._host_time

    def _host_reached(self, model_time: float) -> None:
        with self._lock:
            self._host_time = max(self._host_time, model_time)

    def _forget(self, stream: Stream) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)
            if stream is self._default_stream:
                self._default_stream = None

    def _unreported(self, failure) -> None:
        self._unreported_failures.append(failure)


def _resolve_backend(kernel_backend):
    if kernel_backend is None:
        try:
            return hal.get_backend("native")
        except hal.BackendUnavailableError:
            return hal.get_backend("numpy")
    if isinstance(kernel_backend, str):
        if kernel_backend == "mock":
            raise ValueError("the mock device cannot run its kernels on the mock backend itself")
        return hal.get_backend(kernel_backend)
    if isinstance(kernel_backend, hal.Backend):
        return kernel_backend
    raise TypeError(f"kernel_backend must be a backend name or a halkit.hal.Backend, got {type(kernel_backend).__name__}")


def _close_all_at_exit() -> None:
    for device in list(_open_devices):
        device.close()


# threading._register_atexit hooks run before the interpreter joins non-daemon threads;
# a plain atexit hook would run only after that join, i.e. never while a worker is alive.
_register_exit_hook = getattr(threading, "_register_atexit", None) or atexit.register
_register_exit_hook(_close_all_at_exit)
