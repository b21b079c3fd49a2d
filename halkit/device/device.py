"""Device: one mock accelerator — its spec, memory, streams, engines, trace and stats, a clean shutdown, and fork.

Worker threads are not daemons: ``close()`` (or ``with Device(...)``) drains
and joins them. Devices still open when the interpreter exits are closed by a
hook that runs *before* Python joins non-daemon threads (the hook
concurrent.futures uses for the same reason), so a forgotten close never
hangs interpreter exit.

A forked child (a DataLoader worker, a multiprocessing pool) inherits the
devices but none of their worker threads: each stream starts a fresh worker
on its next command, locks another thread of the parent may have held are
re-created, and commands that were still queued at the fork fail their stream
in the child (StreamError at its next synchronize) rather than hang it.
"""
from __future__ import annotations

import atexit
import collections
import itertools
import os
import threading
import time
import warnings
import weakref

import numpy as np

from halkit import hal
from halkit.hal.errors import DeviceError
from halkit.hal.schedule import EngineSchedule

from .memory import Allocator, Buffer, PinnedBuffer
from .spec import DeviceSpec, preset
from .stream import Event, Stream
from .trace import Trace

_open_devices: "weakref.WeakSet[Device]" = weakref.WeakSet()

#: what :meth:`Device.stats` counts (commands that ran; bytes are payload bytes)
COUNTERS = ("h2d_copies", "h2d_bytes", "d2h_copies", "d2h_bytes", "d2d_copies", "d2d_bytes", "launches", "fills")
_COUNTED = {"h2d": ("h2d_copies", "h2d_bytes"), "d2h": ("d2h_copies", "d2h_bytes"),
            "d2d": ("d2d_copies", "d2d_bytes"), "kernel": ("launches", None), "fill": ("fills", None)}

#: the engine schedule forgets the intervals no future command can reach once per this many commands
_SETTLE_EVERY = 256


class Device:
    """A mock accelerator.

    ``spec``: a DeviceSpec or a preset name ("a100-pcie", "tpu-v1", "edge-npu").
    ``memory_bytes``: capacity override (default ``spec.memory_bytes``).
    ``kernel_backend``: the host driver (name or object) whose kernels compute
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
        self.kernel_backend = _host_kernels(kernel_backend)
        self.engines = EngineSchedule()
        self._real_origin = time.perf_counter()
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self.trace = Trace(self.name, trace_capacity, clock=self._trace_clock)
        self._stream_ids = itertools.count()
        self._host_time = 0.0  # modelled time the host has observed (by waiting on the device)
        self._streams: list[Stream] = []
        self._default_stream: Stream | None = None
        self._unreported_failures = []
        self._counts = collections.Counter()
        self._finished = 0
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

    # --- what moved -----------------------------------------------------------
    def stats(self) -> dict:
        """Counts of the commands that ran — h2d/d2h/d2d copies and their bytes, kernel launches, fills —
        and memory in use / peak / capacity (bytes) and live buffers. Synchronise first for a settled view."""
        memory = self.allocator.stats()
        with self._lock:
            counts = {key: self._counts[key] for key in COUNTERS}
        return counts | {"memory_used": memory["used"], "memory_peak": memory["peak"],
                         "memory_capacity": memory["capacity"], "live_buffers": memory["live_buffers"]}

    def reset_stats(self) -> None:
        """Zero the counters, and the memory peak down to what is in use now."""
        with self._lock:
            self._counts.clear()
        self.allocator.reset_peak()

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
        if not isinstance(array, np.ndarray):
            raise TypeError(f"array must be a NumPy array, got {type(array).__name__}: use np.asarray(array)")
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
        if any(threading.current_thread() is s._worker for s in list(self._streams)):
            raise DeviceError(f"device {self.name!r} cannot be closed from one of its own streams' commands")
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

    # --- used by streams and the trace ----------------------------------------------------
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

    def _trace_clock(self) -> tuple[int, float, float]:
        return self._next_index(), time.perf_counter() - self._real_origin, self._host_time

    def _count(self, kind: str, nbytes: int) -> None:
        counted = _COUNTED.get(kind)
        if counted is not None:
            count, size = counted
            with self._lock:
                self._counts[count] += 1
                if size is not None:
                    self._counts[size] += nbytes

    def _command_finished(self) -> None:
        """Called by a worker after each command: now and then, let the engine schedule forget its past."""
        with self._lock:
            self._finished += 1
            due = self._finished % _SETTLE_EVERY == 0
        if due:
            self.engines.forget_before(self._settled_time())

    def _settled_time(self) -> float:
        """A lower bound of the ready time of every command not placed yet, so the schedule can drop what ends
        before it. A command's ready time is at least its stream's clock and its issue time (the host's
        modelled time when issued, which never decreases); a new stream starts at the host's time. Hence:
        the host's time now, or, for a stream with commands in flight, its clock if that is earlier."""
        bound = self._host_time  # read before the streams: see Stream._enqueue
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            if stream._inflight:
                bound = min(bound, stream._clock)
        return bound

    def _forget(self, stream: Stream) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)
            if stream is self._default_stream:
                self._default_stream = None

    def _unreported(self, failure) -> None:
        self._unreported_failures.append(failure)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self.allocator.after_fork_in_child()
        self.trace.after_fork_in_child()
        # A fresh schedule (the old one's lock may be held); the child's commands start after everything the
        # parent placed, which ended by the latest stream clock, so nothing is modelled twice on an engine.
        self.engines = EngineSchedule()
        self._host_time = max([self._host_time] + [s._clock for s in self._streams])
        for stream in self._streams:
            stream._after_fork_in_child()


def _host_kernels(kernel_backend):
    """The host driver whose kernel methods compute the device's results."""
    if kernel_backend is None:
        try:
            return hal.get_backend("native")
        except hal.BackendUnavailableError:
            return hal.get_backend("numpy")
    driver = hal.get_backend(kernel_backend) if isinstance(kernel_backend, str) else kernel_backend
    if not isinstance(driver, hal.HostDriver):
        raise TypeError(f"kernel_backend must name or be a host driver (numpy, native: halkit.hal.HostDriver) "
                        f"whose kernels run in host memory, got {driver!r}")
    return driver


def _close_all_at_exit() -> None:
    for device in list(_open_devices):
        device.close()


def _reinit_after_fork() -> None:
    for device in list(_open_devices):
        device._after_fork_in_child()


# threading._register_atexit hooks run before the interpreter joins non-daemon threads;
# a plain atexit hook would run only after that join, i.e. never while a worker is alive.
_register_exit_hook = getattr(threading, "_register_atexit", None) or atexit.register
_register_exit_hook(_close_all_at_exit)
os.register_at_fork(after_in_child=_reinit_after_fork)
