"""Streams and events: in-order asynchronous command queues, each drained by its own worker thread.

CUDA stream semantics on an IREE-like object model:

* commands on one stream run in issue order; different streams run concurrently;
* ``event = stream.record()`` marks a point in a stream; ``other.wait(event)``
  makes ``other``'s later commands wait for it (captured at call time, so
  re-recording the event later does not change an earlier wait, as in CUDA);
* a failing command poisons its stream: later commands are skipped (their
  inputs may be garbage) until the host synchronises, which re-raises the
  failure as a StreamError chained to the original — no error is lost, and a
  stream waiting on an event of a poisoned stream is poisoned too;
* every command has a modelled duration (DeviceSpec); a stream's modelled clock
  starts each command at the latest of its previous command, the events it
  waits on, the modelled host time when it was issued, and a free slot on the
  hardware engine it needs (EngineSchedule), so overlap across streams is modelled.

Copies from *pageable* host memory (a plain NumPy array) are synchronous, as on
real devices: to the device, the bytes are staged before the call returns (the
array may be reused at once); to the host, the call returns when the copy is
done. Copies to and from a PinnedBuffer are asynchronous.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import kernels
from .errors import DeviceError, StreamError
from .memory import Buffer, PinnedBuffer, check_same_layout
from .spec import Cost
from .trace import TraceRecord

_STOP = object()
_MARKER = Cost(0.0)


@dataclass(frozen=True)
class _Failure:
    stream: str
    command: str
    error: BaseException

    def exception(self) -> StreamError:
        exc = StreamError(f"stream {self.stream!r}: {self.command} failed: {type(self.error).__name__}: {self.error}")
        exc.__cause__ = self.error
        return exc


class _Fence:
    """Completion of one command: set once by a worker, waited on by the host or by another stream's worker."""

    def __init__(self):
        self._done = threading.Event()
        self.failure: _Failure | None = None
        self.model_time = 0.0
        self.real_time = 0.0

    def complete(self, model_time: float, real_time: float, failure: _Failure | None) -> None:
        self.model_time, self.real_time, self.failure = model_time, real_time, failure
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


@dataclass
class _Command:
    kind: str
    name: str
    cost: Cost = _MARKER
    run: Callable[[], None] | None = None
    buffers: tuple[Buffer, ...] = ()
    after: _Fence | None = None  # another stream's point this command waits for
    reports: bool = False  # host-synchronising: hands a pending failure to the host and clears the poison
    fence: _Fence = field(default_factory=_Fence)
    issued_at: float = 0.0
    index: int = 0


class Event:
    """A point in a stream: record it, wait on it from another stream, synchronise on it, time between two."""

    def __init__(self):
        self._fence: _Fence | None = None
        self._device = None  # set when recorded

    def record(self, stream: "Stream") -> "Event":
        return stream.record(self)

    def query(self) -> bool:
        """True when everything before the recorded point has run (an unrecorded event counts as done, as in CUDA)."""
        return self._fence is None or self._fence.done

    def synchronize(self, timeout: float | None = None) -> None:
        """Block the host until the recorded point is reached; re-raises a failure that happened before it."""
        if self._fence is not None:
            _host_wait(self._fence, timeout, "an event", self._device)

    @property
    def model_time(self) -> float | None:
        """Modelled seconds (since the device was created) at which the recorded point was reached; None until then."""
        return self._fence.model_time if self._fence is not None and self._fence.done else None

    def elapsed_time(self, end: "Event", clock: str = "model") -> float:
        """Milliseconds from this event to ``end`` (as cudaEventElapsedTime), on the cost model's clock or the wall clock."""
        if clock not in ("model", "real"):
            raise ValueError(f"clock must be 'model' or 'real', got {clock!r}")
        for ev in (self, end):
            if ev._fence is None or not ev._fence.done:
                raise DeviceError("elapsed_time needs two recorded events that have completed: synchronize() first")
        attr = f"{clock}_time"
        return (getattr(end._fence, attr) - getattr(self._fence, attr)) * 1e3


def _host_wait(fence: _Fence, timeout, what: str, device) -> None:
    if not fence.wait(timeout):
        raise DeviceError(f"timed out after {timeout} s waiting for {what} on device {device.name!r}")
    device._host_reached(fence.model_time)
    if fence.failure is not None:
        raise fence.failure.exception()


class Stream:
    """An in-order command queue of one Device, executed by one worker thread. Create with ``device.stream()``."""

    def __init__(self, device, name: str):
        self.device, self.name = device, name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._clock = device._host_model_time()  # modelled time at which this stream's last command ends
        self._failure: _Failure | None = None
        self._last: _Fence | None = None
        self._worker = threading.Thread(target=self._drain, name=f"halkit-{device.name}-{name}")
        self._worker.start()

    # --- commands -------------------------------------------------------------
    def copy_to_device(self, dst: Buffer, src) -> None:
        """host → device. ``src`` is a PinnedBuffer (asynchronous) or a NumPy array (staged now: synchronous)."""
        self._check_buffer("copy_to_device destination", dst)
        check_same_layout("copy_to_device", dst, src)
        if isinstance(src, PinnedBuffer):
            host = src.array
        else:
            host = np.array(_host_array("copy_to_device source", src), order="C", copy=True)  # the staging copy

        def run():
            dst._device_view()[...] = host
        self._enqueue(_Command("h2d", "copy_to_device", self.device.spec.link_copy_cost(dst.nbytes, "h2d"), run, (dst,)))

    def copy_to_host(self, dst, src: Buffer, timeout: float | None = None) -> None:
        """device → host. ``dst`` is a PinnedBuffer (asynchronous) or a writeable NumPy array (blocks until copied)."""
        self._check_buffer("copy_to_host source", src)
        check_same_layout("copy_to_host", dst, src)
        pinned = isinstance(dst, PinnedBuffer)
        host = dst.array if pinned else _host_array("copy_to_host destination", dst)
        if not pinned and not (host.flags.writeable and host.flags.c_contiguous):
            raise ValueError("copy_to_host destination must be a writeable C-contiguous array")

        def run():
            host[...] = src._device_view()
        cost = self.device.spec.link_copy_cost(src.nbytes, "d2h")
        fence = self._enqueue(_Command("d2h", "copy_to_host", cost, run, (src,), reports=not pinned))
        if not pinned:
            _host_wait(fence, timeout, "copy_to_host", self.device)

    def copy_on_device(self, dst: Buffer, src: Buffer) -> None:
        """device → device."""
        self._check_buffer("copy_on_device destination", dst)
        self._check_buffer("copy_on_device source", src)
        check_same_layout("copy_on_device", dst, src)

        def run():
            dst._device_view()[...] = src._device_view()
        self._enqueue(_Command("d2d", "copy_on_device", self.device.spec.device_copy_cost(dst.nbytes), run, (dst, src)))

    def fill(self, dst: Buffer, value: float) -> None:
        self._check_buffer("fill destination", dst)
        value = float(value)

        def run():
            dst._device_view().fill(value)
        self._enqueue(_Command("fill", "fill", self.device.spec.fill_cost(dst.nbytes), run, (dst,)))

    def launch(self, kernel: str, out: Buffer, *inputs: Buffer | None, **params) -> None:
        """Run HAL primitive ``kernel`` (gemm, relu, layer_norm, ...) on device buffers, writing ``out``.

        Example: ``stream.launch("gemm", y, x, w, b, trans_b=True, activation="relu")``.
        Shapes and dtypes are checked now; the kernel runs later on the worker.
        """
        spec = kernels.lookup(kernel)
        bound = kernels.bind(spec, inputs, params)
        used = [b for b in bound.values() if b is not None]
        for name, buf in bound.items():
            if buf is not None:
                self._check_buffer(f"{kernel} input {name!r}", buf)
        self._check_buffer(f"{kernel} output", out)
        for name, buf in bound.items():
            if buf is not None and buf.dtype != out.dtype:
                raise DeviceError(f"{kernel}: dtype mismatch: input {name!r} is {buf.dtype}, output is {out.dtype}")
        shape = kernels.output_shape(spec, bound, params)
        if shape != out.shape:
            raise DeviceError(f"{kernel}: size mismatch: output buffer is {out.shape}, the result is {shape}")
        cost = kernels.cost(spec, bound, shape, params, out.dtype, self.device.spec)
        backend = self.device.kernel_backend

        def run():
            arrays = {name: (None if b is None else b._device_view()) for name, b in bound.items()}
            out._device_view()[...] = spec.run(backend, arrays, params)
        self._enqueue(_Command("kernel", kernel, cost, run, (*used, out)))

    def host_func(self, fn: Callable[[], None], seconds: float = 0.0, name: str | None = None) -> None:
        """Run ``fn()`` on the worker in stream order (cudaLaunchHostFunc); modelled as ``seconds`` long."""
        self._enqueue(_Command("host_func", name or getattr(fn, "__name__", "host_func"), Cost(float(seconds)), fn))

    def record(self, event: Event | None = None) -> Event:
        """Record ``event`` (a new one if None) at the current end of this stream; returns it."""
        event = event or Event()
        event._device = self.device
        event._fence = self._enqueue(_Command("record", "record"))
        return event

    def wait(self, event: Event) -> None:
        """Later commands on this stream wait until ``event``'s recorded point (no-op if never recorded)."""
        self._enqueue(_Command("wait", "wait", after=event._fence))

    # --- host side --------------------------------------------------------------
    def synchronize(self, timeout: float | None = None) -> None:
        """Block until every command issued so far has run; raise StreamError if one failed since the last report."""
        fence = self._enqueue(_Command("sync", "synchronize", reports=True))
        _host_wait(fence, timeout, f"stream {self.name!r}", self.device)

    def query(self) -> bool:
        """True when every command issued so far has finished."""
        return self._last is None or self._last.done

    def close(self) -> None:
        """Run what is queued, then stop and join the worker thread. Idempotent."""
        if threading.current_thread() is self._worker:
            raise DeviceError(f"stream {self.name!r} cannot be closed from its own commands")
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._worker.join()
        self.device._forget(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"<Stream {self.name!r} on {self.device.name}{' closed' if self._closed else ''}>"

    # --- internals --------------------------------------------------------------
    def _check_buffer(self, what: str, buf) -> None:
        if not isinstance(buf, Buffer):
            raise TypeError(f"{what} must be a device Buffer, got {type(buf).__name__}")
        if buf.device is not self.device:
            raise DeviceError(f"{what} lives on {buf.device.name!r}, not on this stream's device {self.device.name!r}")

    def _enqueue(self, cmd: _Command) -> _Fence:
        with self._lock:
            if self._closed:
                raise DeviceError(f"stream {self.name!r} of device {self.device.name!r} is closed")
            held = []
            try:
                for buf in cmd.buffers:
                    buf._acquire(f"{cmd.kind} {cmd.name!r}")
                    held.append(buf)
            except BaseException:
                for buf in held:
                    buf._release()
                raise
            cmd.index = self.device._next_index()
            cmd.issued_at = self.device._host_model_time()
            self._last = cmd.fence
            self._queue.put(cmd)
        return cmd.fence

    def _drain(self) -> None:
        while (cmd := self._queue.get()) is not _STOP:
            try:
                self._execute(cmd)
            finally:
                for buf in cmd.buffers:
                    buf._release()
        if self._failure is not None:
            self.device._unreported(self._failure)

    def _execute(self, cmd: _Command) -> None:
        ready = max(self._clock, cmd.issued_at)
        if cmd.after is not None:
            cmd.after.wait()  # the cross-stream dependency: this worker really blocks
            ready = max(ready, cmd.after.model_time)
            if cmd.after.failure is not None and self._failure is None:
                self._failure = cmd.after.failure
        status = "skipped" if self._failure is not None else "ok"
        real_start = time.perf_counter()
        if status == "ok" and cmd.run is not None:
            try:
                cmd.run()
            except BaseException as exc:  # any failure must reach the host, never kill the worker
                self._failure = _Failure(self.name, f"command #{cmd.index} ({cmd.kind} {cmd.name!r})", exc)
                status = "failed"
        real_end = time.perf_counter()
        duration = cmd.cost.seconds if status == "ok" else 0.0
        start, end = self.device.engines.place(cmd.cost.engine, ready, duration)
        self._clock = end
        failure = self._failure
        if cmd.reports:
            self._failure = None
        origin = self.device._real_origin
        self.device.trace.add(TraceRecord(
            cmd.index, self.name, cmd.kind, cmd.name, cmd.cost.nbytes, cmd.cost.flops, cmd.cost.bound,
            cmd.cost.engine, status, real_start - origin, real_end - origin, start, end))
        cmd.fence.complete(end, real_end - origin, failure)


def _host_array(what: str, x) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{what} must be a NumPy array or a PinnedBuffer, got {type(x).__name__}")
    return x
