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
* every command has a modelled duration (the device's DeviceSpec); a stream's
  modelled clock starts each command at the latest of its previous command,
  the events it waits on, the modelled host time when it was issued, and a
  free slot on the hardware engine it needs (halkit.hal.schedule), so overlap
  across streams is modelled.

Commands take device Buffers or DeviceArrays of this device (a view of a
buffer at a byte offset). ``launch`` runs any op of the HAL op set
(:mod:`halkit.hal.opset`): shapes are checked when it is issued, the device's
host kernels compute it on the worker, and ``spec.op_cost`` prices it.

Copies from *pageable* host memory (a plain NumPy array) are staged before the
call returns (the array may be reused at once); a copy back into one blocks
until it is done unless ``blocking=False``. Copies to and from a PinnedBuffer
are asynchronous. The worker thread starts with the first command, and again
in a forked child (see :mod:`halkit.device.device`).
"""
from __future__ import annotations

import collections
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from halkit.hal import opset
from halkit.hal.array import DeviceArray
from halkit.hal.cost import Cost
from halkit.hal.errors import DeviceError, DeviceTimeoutError, StreamError

from .memory import Buffer, PinnedBuffer, check_same_layout
from .trace import TraceRecord

_STOP = object()
_MARKER = Cost(0.0)
_PLANS = 1024  # launch signatures a stream remembers (see Stream._plan)


class _Region(NamedTuple):
    """What a command reads or writes: ``shape`` and ``dtype`` at byte ``offset`` of ``buffer``."""

    buffer: Buffer
    offset: int
    shape: tuple
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def view(self) -> np.ndarray:
        return self.buffer._view(self.offset, self.shape, self.dtype)


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
        self.stream: Stream | None = None
        self.failure: _Failure | None = None
        self.model_time = 0.0
        self.real_time = 0.0

    def complete(self, model_time: float, real_time: float, failure: _Failure | None) -> None:
        self.model_time, self.real_time, self.failure = model_time, real_time, failure
        self._done.set()

    def abandon(self, model_time: float, failure: _Failure) -> None:
        """Complete a command that will never run (queued at a fork): a fresh Event, as the old one's lock
        may have been held by a thread that does not exist in this process."""
        self._done = threading.Event()
        self.complete(model_time, 0.0, failure)

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
        if not isinstance(end, Event):
            raise TypeError(f"end must be a halkit.device.Event, got {type(end).__name__}")
        for ev in (self, end):
            if ev._fence is None or not ev._fence.done:
                raise DeviceError("elapsed_time needs two recorded events that have completed: synchronize() first")
        attr = f"{clock}_time"
        return (getattr(end._fence, attr) - getattr(self._fence, attr)) * 1e3


def _host_wait(fence: _Fence, timeout, what: str, device) -> None:
    stream = fence.stream
    if stream is not None and threading.current_thread() is stream._worker and not fence.done:
        # A command of this stream waiting for a later one of the same stream: it could never finish.
        raise DeviceError(
            f"a command on stream {stream.name!r} (a host function?) waited for {what} queued behind it on the "
            "same stream, which can never run while it waits; wait from the host instead, or free/copy with "
            "commands issued to the stream rather than from inside it")
    if not fence.wait(timeout):
        raise DeviceTimeoutError(f"timed out after {timeout} s waiting for {what} on device {device.name!r}")
    device._host_reached(fence.model_time)
    if fence.failure is not None:
        raise fence.failure.exception()


class Stream:
    """An in-order command queue of one Device, executed by one worker thread. Create with ``device.stream()``."""

    def __init__(self, device, name: str):
        self.device, self.name = device, name
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._inflight: collections.deque[_Command] = collections.deque()  # issued, not finished (oldest first)
        self._closed = False
        self._clock = device._host_model_time()  # modelled time at which this stream's last command ends
        self._failure: _Failure | None = None
        self._last: _Fence | None = None
        self._worker: threading.Thread | None = None  # started with the first command
        self._plans: dict = {}

    # --- commands -------------------------------------------------------------
    def copy_to_device(self, dst, src) -> None:
        """host → device. ``src`` is a PinnedBuffer (asynchronous) or a NumPy array (staged now: synchronous)."""
        region = self._region("copy_to_device destination (dst)", dst)
        if isinstance(src, PinnedBuffer):
            host = src.array
        elif isinstance(src, np.ndarray):
            host = src
        else:
            raise TypeError(f"copy_to_device source (src) must be a NumPy array or a PinnedBuffer, got "
                            f"{type(src).__name__}: convert it with np.asarray(src, dtype=np.float32)")
        check_same_layout("copy_to_device", region, host)
        if not isinstance(src, PinnedBuffer):
            host = np.array(host, order="C", copy=True)  # the staging copy: the caller may reuse src at once

        def run():
            region.view()[...] = host
        self._enqueue(_Command("h2d", "copy_to_device", self.device.spec.link_copy_cost(region.nbytes, "h2d"), run,
                               (region.buffer,)))

    def copy_to_host(self, dst, src, timeout: float | None = None, blocking: bool | None = None) -> None:
        """device → host. ``dst`` is a PinnedBuffer or a writeable C-contiguous NumPy array.

        A copy into a NumPy array blocks until it is done (re-raising a failure of the stream) unless
        ``blocking=False``, which, as a copy into a PinnedBuffer always is, is asynchronous: synchronise
        before reading ``dst``.
        """
        region = self._region("copy_to_host source (src)", src)
        pinned = isinstance(dst, PinnedBuffer)
        if pinned:
            host = dst.array
        elif isinstance(dst, np.ndarray):
            host = dst
            if not (host.flags.writeable and host.flags.c_contiguous):
                raise ValueError("copy_to_host destination (dst) must be a writeable C-contiguous array")
        else:
            raise TypeError(f"copy_to_host destination (dst) must be a NumPy array or a PinnedBuffer, got "
                            f"{type(dst).__name__}: allocate it with np.empty(shape, dtype)")
        check_same_layout("copy_to_host", host, region)
        wait = not pinned if blocking is None else bool(blocking)

        def run():
            host[...] = region.view()
        cost = self.device.spec.link_copy_cost(region.nbytes, "d2h")
        fence = self._enqueue(_Command("d2h", "copy_to_host", cost, run, (region.buffer,), reports=wait))
        if wait:
            _host_wait(fence, timeout, "copy_to_host", self.device)

    def copy_on_device(self, dst, src) -> None:
        """device → device."""
        out = self._region("copy_on_device destination (dst)", dst)
        source = self._region("copy_on_device source (src)", src)
        check_same_layout("copy_on_device", out, source)

        def run():
            out.view()[...] = source.view()
        self._enqueue(_Command("d2d", "copy_on_device", self.device.spec.device_copy_cost(out.nbytes), run,
                               (out.buffer, source.buffer)))

    def fill(self, dst, value: float) -> None:
        region = self._region("fill destination (dst)", dst)
        value = float(value)

        def run():
            region.view().fill(value)
        self._enqueue(_Command("fill", "fill", self.device.spec.fill_cost(region.nbytes), run, (region.buffer,)))

    def launch(self, op: str, out, *inputs, **params) -> None:
        """Run op-set op ``op`` (gemm, relu, layer_norm, ...) on device arrays, writing ``out``.

        ``out`` is one Buffer/DeviceArray, or a list of them for an op with several results; ``inputs``
        follow the op's declared order (None for an absent optional one, a list for ``cat``); ``params``
        default as the op set says. Example: ``stream.launch("gemm", y, x, w, trans_b=True, activation="relu")``.
        Shapes, dtypes and parameters are checked now; the kernel runs later on the worker.
        """
        definition = opset.lookup(op)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        outputs = [self._region(f"{op} output {i}", o) for i, o in enumerate(outs)]
        bound = opset.bind_inputs(definition, inputs)
        args = [self._regions(f"{op} input {name!r}", x) for name, x in bound.items()]
        params, cost = self._plan(op, args, outputs, params)
        kernel = getattr(self.device.kernel_backend, op)
        used = [r.buffer for r in outputs] + [r.buffer for x in args for r in (x if isinstance(x, list) else [x])
                                                   if r is not None]

        def run():
            results = kernel(*(_views(x) for x in args), **params)
            for region, result in zip(outputs, results if isinstance(results, tuple) else (results,)):
                region.view()[...] = result
        self._enqueue(_Command("kernel", op, cost, run, tuple(dict.fromkeys(used))))

    def host_func(self, fn: Callable[[], None], seconds: float = 0.0, name: str | None = None) -> None:
        """Run ``fn()`` on the worker in stream order (cudaLaunchHostFunc); modelled as ``seconds`` long."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self._enqueue(_Command("host_func", name or getattr(fn, "__name__", "host_func"), Cost(float(seconds)), fn))

    def record(self, event: Event | None = None) -> Event:
        """Record ``event`` (a new one if None) at the current end of this stream; returns it."""
        if event is not None and not isinstance(event, Event):
            raise TypeError(f"event must be a halkit.device.Event or None, got {type(event).__name__}")
        event = event or Event()
        event._device = self.device
        event._fence = self._enqueue(_Command("record", "record"))
        return event

    def wait(self, event: Event) -> None:
        """Later commands on this stream wait until ``event``'s recorded point (no-op if never recorded)."""
        if not isinstance(event, Event):
            raise TypeError(f"event must be a halkit.device.Event (from stream.record()), got {type(event).__name__}")
        if event._device is not None and event._device is not self.device:
            raise DeviceError(f"event was recorded on device {event._device.name!r}, this stream belongs to "
                              f"{self.device.name!r}")
        self._enqueue(_Command("wait", "wait", after=event._fence))

    # --- host side --------------------------------------------------------------
    def synchronize(self, timeout: float | None = None) -> None:
        """Block until every command issued so far has run; raise StreamError if one failed since the last report."""
        with self._lock:
            idle = self._failure is None and (self._last is None or self._last.done)
        if idle:  # nothing to wait for or report: no command, so an idle stream adds nothing to the trace
            if self._last is not None:
                self.device._host_reached(self._last.model_time)
            return
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
                if self._worker is not None:
                    self._queue.put(_STOP)
            worker = self._worker
        if worker is not None:
            worker.join()
        self.device._forget(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"<Stream {self.name!r} on {self.device.name}{' closed' if self._closed else ''}>"

    # --- internals --------------------------------------------------------------
    def _region(self, what: str, x) -> _Region:
        if isinstance(x, Buffer):
            buffer, offset = x, 0
        elif isinstance(x, DeviceArray) and isinstance(x.buffer, Buffer):
            buffer, offset = x.buffer, x.offset
        else:
            raise TypeError(f"{what} must be a device Buffer or a DeviceArray of this device, got {type(x).__name__}"
                            + (": copy host data in first (stream.copy_to_device)" if isinstance(x, np.ndarray)
                               else ""))
        if buffer.device is not self.device:
            raise DeviceError(f"{what} lives on {buffer.device.name!r}, not on this stream's device "
                              f"{self.device.name!r}")
        return _Region(buffer, offset, tuple(x.shape), np.dtype(x.dtype))

    def _regions(self, what: str, x):
        if x is None:
            return None
        if isinstance(x, list):
            return [self._region(f"{what}[{i}]", v) for i, v in enumerate(x)]
        return self._region(what, x)

    def _plan(self, op: str, args, outputs, params: dict):
        """(complete params, modelled cost) of a launch. The checks and the cost model are pure functions of the
        op, the shapes, dtypes and params, so each signature is worked out once (a bounded memo)."""
        key = (op, _signature(args), _signature(outputs), repr(sorted(params.items())))
        plan = self._plans.get(key)
        if plan is None:
            specs, params = opset.infer(op, args, params)
            if len(specs) != len(outputs):
                raise DeviceError(f"{op} writes {len(specs)} output(s), got {len(outputs)}")
            for i, (spec, region) in enumerate(zip(specs, outputs)):
                if spec.shape != region.shape:
                    raise DeviceError(f"{op}: size mismatch: output {i} is {region.shape}, the result is {spec.shape}")
                if spec.dtype != region.dtype:
                    raise DeviceError(f"{op}: dtype mismatch: output {i} is {region.dtype}, the result is {spec.dtype}")
            plan = params, self.device.spec.op_cost(op, args, outputs, params)
            if len(self._plans) >= _PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _enqueue(self, cmd: _Command) -> _Fence:
        allocator = self.device.allocator
        with self._lock:
            if self._closed:
                raise DeviceError(f"stream {self.name!r} of device {self.device.name!r} is closed")
            held = []
            try:
                for buf in cmd.buffers:
                    allocator.acquire_use(buf, f"{cmd.kind} {cmd.name!r}")
                    held.append(buf)
            except BaseException:
                for buf in held:
                    allocator.release_use(buf)
                raise
            # In flight before its issue time is read: a reader that misses it (Device._settled_time) read
            # the host clock earlier, so this command's issue time is no earlier than what that reader assumed.
            self._inflight.append(cmd)
            cmd.index = self.device._next_index()
            cmd.issued_at = self.device._host_model_time()
            cmd.fence.stream = self
            self._last = cmd.fence
            if self._worker is None:
                self._worker = threading.Thread(target=self._drain, name=f"halkit-{self.device.name}-{self.name}")
                self._worker.start()
            self._queue.put(cmd)
        return cmd.fence

    def _drain(self) -> None:
        commands = self._queue
        while (cmd := commands.get()) is not _STOP:
            self._execute(cmd)
            self._inflight.popleft()
            self.device._command_finished()
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
        try:
            if status == "ok" and cmd.run is not None:
                cmd.run()
        except BaseException as exc:  # any failure must reach the host, never kill the worker
            self._failure = _Failure(self.name, f"command #{cmd.index} ({cmd.kind} {cmd.name!r})", exc)
            status = "failed"
        finally:
            for buf in cmd.buffers:  # before the fence: whoever waits on it sees the memory accounted
                self.device.allocator.release_use(buf)
        real_end = time.perf_counter()
        duration = cmd.cost.seconds if status == "ok" else 0.0
        start, end = self.device.engines.place(cmd.cost.engine, ready, duration)
        self._clock = end
        failure = self._failure
        if cmd.reports:
            self._failure = None
        if status == "ok":
            self.device._count(cmd.kind, cmd.cost.nbytes)
        origin = self.device._real_origin
        self.device.trace.add(TraceRecord(
            cmd.index, self.name, cmd.kind, cmd.name, cmd.cost.nbytes, cmd.cost.flops, cmd.cost.bound,
            cmd.cost.engine, status, real_start - origin, real_end - origin, start, end))
        cmd.fence.complete(end, real_end - origin, failure)

    def _after_fork_in_child(self) -> None:
        """The worker thread did not survive the fork: start a fresh one on demand. Commands that were queued
        ran (or would have run) in the parent only; they are failed here, poisoning the stream, so the child
        learns of it at its next synchronize instead of waiting forever."""
        lost = list(self._inflight)
        self._lock = threading.Lock()
        self._queue = queue.SimpleQueue()  # never touch the parent's: its internal lock may be held
        self._inflight = collections.deque()
        self._worker = None
        if lost:
            failure = _Failure(self.name, f"{len(lost)} command(s) queued when the process forked", DeviceError(
                "the process forked while they were queued: they belong to the parent, and their results are "
                "not in this child's copy of device memory"))
            self._failure = self._failure or failure
            for cmd in lost:
                for buf in cmd.buffers:
                    self.device.allocator.release_use(buf)
                cmd.fence.abandon(self._clock, failure)


def _signature(regions) -> tuple:
    return tuple(None if r is None else _signature(r) if isinstance(r, list) else (r.shape, r.dtype.str)
                 for r in regions)


def _views(x):
    if x is None:
        return None
    if isinstance(x, list):
        return [r.view() for r in x]
    return x.view()
