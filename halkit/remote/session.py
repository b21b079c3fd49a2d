"""One client session on the server: the client's buffers, streams and events, executed on a local driver.

Commands arrive in the order the client issued them (one reader thread per
session calls :meth:`Session.handle`). Buffer and stream ids are resolved
right away, so a ``free`` never pulls memory from under work already queued
(the queued command holds its DeviceArray views; the memory goes when the
last of them does). Work on a stream runs in that stream's worker thread, in
order, on a stream of the server's driver, through ``halkit.hal.dispatch.launch``
(so the driver's declared fallbacks apply). A failure is kept and reported at
the client's next synchronize, as on a local device.

Everything a session holds is found through its own tables: another client's
ids name nothing here, which is what keeps sessions apart. ``close()``
(the client left, or the server is stopping) drops every table, and with
them the session's device memory.
"""
from __future__ import annotations

import collections
import logging
import math
import queue
import threading
import time

import numpy as np

from halkit.hal import dispatch, opset
from halkit.hal.array import DeviceArray, empty
from halkit.hal.errors import BufferFreedError, DeviceError, OutOfMemoryError

from . import device_pb2 as pb
from .wire import CHUNK_BYTES, HEARTBEAT_S, WIRE_DTYPES, data_reply, decode_value, encode_error

log = logging.getLogger("halkit.remote")

MAX_STREAMS = 256  # per session: each is a worker thread
KEEP_EVENTS = 4096  # completed events remembered per session (older ones are known to be complete)
MAX_PENDING_ERRORS = 64  # failures outside any stream kept for the client's next replies
_POLL_S = 0.25  # how often a blocked thread looks whether its session has closed
_HEARTBEAT = pb.Reply(heartbeat=pb.Heartbeat()).SerializeToString()
_ANSWERED = frozenset({"allocate", "query", "sync", "ping"})  # commands whose sender waits for a Done
_ON_A_STREAM = frozenset({"copy_in", "copy_out", "launch", "record", "wait"})


class Memory:
    """Device memory the server hands out, across every session (``--max-memory``)."""

    def __init__(self, limit: int):
        self.limit, self.used, self._lock = int(limit), 0, threading.Lock()

    def reserve(self, nbytes: int) -> None:
        with self._lock:
            if self.used + nbytes > self.limit:
                raise OutOfMemoryError(
                    f"the remote device cannot allocate {nbytes} bytes: {self.used} of its {self.limit} bytes are "
                    "in use (free some buffers, or start the server with a larger --max-memory)")
            self.used += nbytes

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.used -= nbytes

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)


class _Event:
    __slots__ = ("recorded", "handle", "failure")

    def __init__(self):
        self.recorded, self.handle, self.failure = threading.Event(), None, None


class _Stream:
    """A client stream: its commands run in order in one worker thread, on one stream of the driver."""

    def __init__(self, session: "Session", sid: int):
        self.session, self.sid = session, sid
        self.handle = session.driver.create_stream()
        self.failure: pb.Error | None = None  # the first failure not yet reported to the client
        self.kernel_s = 0.0  # time spent launching since the last Sync
        self._queue: queue.Queue = queue.Queue(maxsize=64)  # bounded: a slow stream slows the reader down
        threading.Thread(target=self._run, name=f"halkit-remote-stream-{sid}", daemon=True).start()

    def submit(self, what: str, work) -> None:
        while not self.session.closed:
            try:
                self._queue.put((what, work), timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        while not self.session.closed:
            try:
                what, work = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - any failure is the client's to see at its next sync
                if self.failure is None:
                    self.failure = encode_error(exc, f"{what} on stream {self.sid} failed: ")

    def take_failure(self):
        failure, self.failure = self.failure, None
        return failure


class Session:
    """The state of one client; ``handle`` runs its commands, ``replies`` is what goes back to it."""

    def __init__(self, driver, memory: Memory, peer: str = "?"):
        self.driver, self.memory, self.peer = driver, memory, peer
        self.closed = False
        self.buffers: dict[int, DeviceArray] = {}  # id -> the whole buffer as uint8
        self._failed: dict[int, BaseException] = {}  # ids whose allocation failed -> why
        self.streams: dict[int, _Stream] = {}
        self.events: collections.OrderedDict[int, _Event] = collections.OrderedDict()
        self._last_event = 0
        # Failures outside any stream, reported at the next reply. Replies leave from the session thread and from
        # stream workers at once: a deque's append/popleft are atomic where a list's check-then-pop is not.
        self._errors: collections.deque[BaseException] = collections.deque()
        self._out: queue.Queue = queue.Queue(maxsize=16)  # replies; bounded so copies back wait for the link
        self._lock = threading.Lock()

    # --- the two ends of the session stream ---------------------------------------------------------
    def consume(self, batches) -> None:
        """Run every command of every batch the client sends; close the session when its stream ends."""
        try:
            for batch in batches:
                for command in batch.commands:
                    self.handle(command)
        except Exception as exc:  # noqa: BLE001 - the client went away (cancelled) or sent garbage
            log.debug("session %s: request stream ended: %s", self.peer, exc)
        finally:
            self.close()

    def replies(self):
        """What the server sends (serialized Replies): in order, a heartbeat whenever nothing else went out for a while."""
        while True:
            try:
                reply = self._out.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                if self.closed:
                    return
                yield _HEARTBEAT
                continue
            if reply is None:
                return
            yield reply

    def _send(self, reply: bytes) -> None:
        while not self.closed:
            try:
                self._out.put(reply, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _done(self, request: int, error: BaseException | pb.Error | None = None, **fields) -> None:
        """Reply to ``request``; a failure outside any stream still unreported rides on the first reply free."""
        if error is None:
            try:
                error = self._errors.popleft()
            except IndexError:
                pass
        done = pb.Done(request=request, free_bytes=self.memory.free, **fields)
        if error is not None:
            done.error.CopyFrom(error if isinstance(error, pb.Error) else encode_error(error))
        self._send(pb.Reply(done=done).SerializeToString())

    # --- commands ------------------------------------------------------------------------------------
    def handle(self, command: pb.Command) -> None:
        if self.closed:
            return
        kind = command.WhichOneof("kind")
        body = getattr(command, kind) if kind else None
        try:
            if kind is None:
                raise ValueError("empty command (no kind set)")
            getattr(self, f"_{kind}")(body)
        except Exception as exc:  # noqa: BLE001 - a malformed command fails alone; the session goes on
            self._refuse(kind, body, exc)

    def _refuse(self, kind: str, body, exc: Exception) -> None:
        """Report a command that could not even be queued where its outcome would have been reported."""
        if kind in _ANSWERED and body.request:
            self._done(body.request, exc)  # someone waits for this very reply
        elif kind in _ON_A_STREAM and body.stream in self.streams:
            def fail():  # in the stream's order, so its next synchronize reports it
                raise exc
            self.streams[body.stream].submit(kind, fail)
        elif len(self._errors) < MAX_PENDING_ERRORS:  # a client that never synchronizes cannot grow this forever
            self._errors.append(exc)

    def _allocate(self, c: pb.Allocate) -> None:
        with self._lock:  # against close(): memory reserved here is released there
            if self.closed:
                return
            try:
                if c.buffer in self.buffers:
                    raise ValueError(f"buffer id {c.buffer} is already allocated in this session")
                self.memory.reserve(c.nbytes)
                try:
                    self.buffers[c.buffer] = empty((c.nbytes,), np.uint8, self.driver)
                except BaseException:
                    self.memory.release(c.nbytes)
                    raise
            except Exception as exc:
                self._failed[c.buffer] = exc  # later uses of the id report why it does not exist
                raise
        if c.request:
            self._done(c.request)

    def _free(self, c: pb.Free) -> None:
        with self._lock:
            buffer = self.buffers.pop(c.buffer, None)
            if buffer is not None:
                self.memory.release(buffer.nbytes)
            elif self._failed.pop(c.buffer, None) is None and not self.closed:
                raise BufferFreedError(f"free: buffer {c.buffer} is not allocated in this session")

    def _view(self, ref: pb.ArrayRef) -> DeviceArray:
        buffer = self.buffers.get(ref.buffer)
        if buffer is None:
            if ref.buffer in self._failed:
                raise self._failed[ref.buffer]
            raise BufferFreedError(f"buffer {ref.buffer} is not allocated in this session (freed, or never allocated)")
        if ref.dtype not in WIRE_DTYPES:
            raise TypeError(f"dtype {ref.dtype!r} is not one of {sorted(WIRE_DTYPES)}")
        dtype = np.dtype(ref.dtype)
        nbytes = math.prod(ref.shape) * dtype.itemsize
        if ref.offset + nbytes > buffer.nbytes:
            raise IndexError(f"the view of {nbytes} bytes at offset {ref.offset} does not fit buffer {ref.buffer} "
                             f"of {buffer.nbytes} bytes")
        # A view sharing the buffer's storage: it keeps the memory alive while queued work uses it.
        return DeviceArray(buffer._storage, tuple(ref.shape), dtype, buffer.offset + ref.offset)

    def _stream(self, sid: int) -> _Stream:
        stream = self.streams.get(sid)
        if stream is None:
            raise DeviceError(f"stream {sid} was not created in this session")
        return stream

    def _create_stream(self, c: pb.CreateStream) -> None:
        if c.stream in self.streams:
            raise ValueError(f"stream id {c.stream} already exists in this session")
        if len(self.streams) >= MAX_STREAMS:
            raise DeviceError(f"a session may create at most {MAX_STREAMS} streams")
        self.streams[c.stream] = _Stream(self, c.stream)

    def _copy_in(self, c: pb.CopyIn) -> None:
        stream = self._stream(c.stream)
        dst = self._view(pb.ArrayRef(buffer=c.buffer, offset=c.offset, shape=[len(c.data)], dtype="uint8"))
        src = np.frombuffer(c.data, np.uint8)
        stream.submit("copy_in", lambda: self.driver.copy_in(dst, src, stream.handle))

    def _copy_out(self, c: pb.CopyOut) -> None:
        stream = self._stream(c.stream)
        src = self._view(pb.ArrayRef(buffer=c.buffer, offset=c.offset, shape=[c.nbytes], dtype="uint8"))

        def send_back():
            # Chunk by chunk, each one waiting for room in the reply queue: the copy runs at the link's pace
            # and holds at most a few chunks of server memory, however large the buffer.
            for start in range(0, c.nbytes, CHUNK_BYTES):
                part = DeviceArray(src._storage, (min(CHUNK_BYTES, c.nbytes - start),), np.uint8, src.offset + start)
                host = np.empty(part.shape, np.uint8)
                self.driver.copy_out(host, part, stream.handle)
                self.driver.synchronize(stream.handle)
                self._send(data_reply(c.request, start, host.tobytes()))
        stream.submit("copy_out", send_back)

    def _launch(self, c: pb.Launch) -> None:
        stream = self._stream(c.stream)
        op = opset.lookup(c.op)
        params = opset.bind_params(op, {k: decode_value(v) for k, v in c.params.items()})
        outputs = [self._view(ref) for ref in c.outputs]
        inputs = [self._input(arg) for arg in c.inputs]
        specs, params = opset.infer(c.op, inputs, params)
        if [(s.shape, s.dtype) for s in specs] != [(o.shape, o.dtype) for o in outputs]:
            raise ValueError(f"{c.op}: the outputs are {[(o.shape, o.dtype.name) for o in outputs]} but the op "
                             f"produces {[(s.shape, s.dtype.name) for s in specs]}")

        def run():
            start = time.perf_counter()
            dispatch.launch(self.driver, c.op, outputs, inputs, params, stream.handle)
            stream.kernel_s += time.perf_counter() - start
        stream.submit(c.op, run)

    def _input(self, arg: pb.Arg):
        kind = arg.WhichOneof("kind")
        if kind == "array":
            return self._view(arg.array)
        if kind == "list":
            return [self._view(ref) for ref in arg.list.items]
        return None

    def _record(self, c: pb.Record) -> None:
        stream = self._stream(c.stream)
        event = self.events[c.event] = _Event()
        self._last_event = max(self._last_event, c.event)
        self._forget_old_events()

        def reach():
            event.handle = self.driver.record(stream.handle)
            event.failure = stream.failure
            event.recorded.set()
        stream.submit("record", reach)

    def _forget_old_events(self) -> None:
        while len(self.events) > KEEP_EVENTS:
            oldest_id, oldest = next(iter(self.events.items()))
            if not (oldest.recorded.is_set() and self.driver.query(oldest.handle)):
                return
            del self.events[oldest_id]

    def _event(self, eid: int) -> _Event | None:
        """The event ``eid``; None for one forgotten because it completed long ago."""
        event = self.events.get(eid)
        if event is None and not 0 < eid <= self._last_event:
            raise DeviceError(f"event {eid} was not recorded in this session")
        return event

    def _wait(self, c: pb.Wait) -> None:
        stream, event = self._stream(c.stream), self._event(c.event)
        if event is None:
            return

        def wait():
            while not event.recorded.wait(_POLL_S):
                if self.closed:
                    return
            self.driver.wait(stream.handle, event.handle)
        stream.submit("wait", wait)

    def _query(self, c: pb.Query) -> None:
        event = self._event(c.event)
        reached = event is None or (event.recorded.is_set() and self.driver.query(event.handle))
        self._done(c.request, flag=reached)

    def _ping(self, c: pb.Ping) -> None:
        self._done(c.request)

    def _sync(self, c: pb.Sync) -> None:
        target = c.WhichOneof("target")
        if target == "event":
            event = self._event(c.event)
            if event is None or (event.recorded.is_set() and self.driver.query(event.handle)):
                self._done(c.request, None if event is None else event.failure)
            else:  # the event is ahead: wait for it without holding up the session's other commands
                threading.Thread(target=self._sync_event, args=(c.request, event), daemon=True).start()
            return
        streams = [self._stream(c.stream)] if target == "stream" else list(self.streams.values())
        if not streams:
            self._done(c.request)
            return
        # Each stream reaches the marker in its own order; the last one to get there replies.
        left, failures, lock = [len(streams)], [], threading.Lock()

        def marker(stream):
            def reached():
                try:
                    self.driver.synchronize(stream.handle)
                except Exception as exc:  # noqa: BLE001 - a device failure found while synchronising
                    stream.failure = stream.failure or encode_error(exc, f"stream {stream.sid}: ")
                failure, kernel_s = stream.take_failure(), stream.kernel_s
                stream.kernel_s = 0.0
                with lock:
                    if failure is not None:
                        failures.append(failure)
                    left[0] -= 1
                    last = left[0] == 0
                if last:
                    self._done(c.request, failures[0] if failures else None,
                               kernel_s=kernel_s if target == "stream" else 0.0)
            return reached
        for stream in streams:
            stream.submit("synchronize", marker(stream))

    def _sync_event(self, request: int, event: _Event) -> None:
        while not event.recorded.wait(_POLL_S):
            if self.closed:
                return
        try:
            self.driver.synchronize(event.handle)
        except Exception as exc:  # noqa: BLE001
            self._done(request, exc)
            return
        self._done(request, event.failure)

    # --- the end -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Free everything the session holds (idempotent): the client left or the server is stopping."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            freed, count = sum(b.nbytes for b in self.buffers.values()), len(self.buffers)
            self.memory.release(freed)
            self.buffers.clear()
            self._failed.clear()
        try:
            self._out.put_nowait(None)  # ends replies() now rather than at its next heartbeat
        except queue.Full:
            pass
        log.info("session %s closed: freed %d buffer(s), %d bytes", self.peer, count, freed)
