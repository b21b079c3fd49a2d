"""The ``remote`` device: a halkit device served by another process over gRPC — the whole driver is this file.

Start a server (``python -m halkit.remote serve``), then either set ``HALKIT_REMOTE=host:port`` and
``HALKIT_REMOTE_TOKEN_FILE=<the file it printed>`` and use the device called "remote", or call
``halkit.remote.connect(address, token_file)``. Everything above the HAL then runs on it unchanged.

How the contract maps onto the wire (device.proto): one gRPC ``Session`` call carries this client's commands
to the server in order and its replies back. Buffers, streams and events are numbered HERE, so ``allocate``,
``copy_in``, ``launch``, ``record`` and ``wait`` are sent without waiting for an answer — launches pipeline, and
a failure surfaces at the next ``synchronize`` as on any device. Copies travel in 1 MiB chunks (no message size
limit on a tensor; memory stays bounded both sides). ``capabilities()`` is the server driver's, with the link
and launch cost this client MEASURED when it connected, so placement prices the network without knowing it.

A server that dies, a dropped link, or silence longer than ``timeout`` (the server sends a heartbeat every
0.5 s) raises DeviceLostError in whoever waits, and in every later call.
"""
from __future__ import annotations

import itertools
import os
import queue
import statistics
import threading
import time

import grpc
import numpy as np

from halkit.hal import Capabilities, Driver, empty, opset
from halkit.hal.errors import (BackendUnavailableError, BufferFreedError, DeviceError, DeviceLostError,
                               HostAccessError, OutOfMemoryError, StreamError)

from . import device_pb2 as pb
from .wire import (LOST_AFTER_S, MAX_MESSAGE_BYTES, PROTOCOL, TOKEN_METADATA, copy_in_frame, decode_error,
                   decode_spec, encode_value, frame, method, read_token)

_BATCH_BYTES = 1 << 20  # a message closes at 1 MiB: a copy chunk then goes alone, never copied into a join
_OUTBOX = 32  # commands waiting for the link; at 1 MiB a chunk a faster caller waits with ≤ 32 MiB queued
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Transport pings find a dead connection even while no request is outstanding.
    ("grpc.keepalive_time_ms", 2000), ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0),
]


class RemoteAuthError(DeviceError, PermissionError):
    """The server refused this client's token."""


class RemoteTimeoutError(DeviceError, TimeoutError):
    """synchronize(timeout=...) ran out before the device got there (the work goes on)."""


class _Handle:
    """A buffer, stream or event of this session: only its number travels to the server."""

    __slots__ = ("id",)

    def __init__(self, id):
        self.id = id

    def __repr__(self):
        return f"<remote {type(self).__name__[6:].lower()} {self.id}>"


class RemoteBuffer(_Handle):
    __slots__ = ()

    def __array__(self, *args, **kwargs):
        raise HostAccessError("a remote buffer lives in the server's memory: copy it to the host (DeviceArray.numpy())")


class RemoteStream(_Handle):
    __slots__ = ()


class RemoteEvent(_Handle):
    __slots__ = ("done",)

    def __init__(self, id):
        super().__init__(id)
        self.done = False


class _Waiter:
    __slots__ = ("event", "done", "allocated")

    def __init__(self, allocated):
        self.event, self.done, self.allocated = threading.Event(), None, allocated


class RemoteDriver(Driver):
    name = "remote"

    def __init__(self, address: str | None = None, token_file: str | None = None, *, token: str | None = None,
                 timeout: float = LOST_AFTER_S, probe_bytes: int = 8 << 20):
        address = address or os.environ.get("HALKIT_REMOTE", "").strip()
        token_file = token_file or os.environ.get("HALKIT_REMOTE_TOKEN_FILE", "").strip()
        if not address or not (token or token_file):
            raise BackendUnavailableError(
                "no remote device configured: start one with `python -m halkit.remote serve`, then set "
                "HALKIT_REMOTE=host:port and HALKIT_REMOTE_TOKEN_FILE=<the token file it printed> "
                "(or call halkit.remote.connect(address, token_file))")
        self.address, self._timeout = address, timeout
        self._metadata = ((TOKEN_METADATA, token or read_token(token_file)),)
        self._closed, self._lost = False, None
        self._ids = itertools.count(1)  # buffer, stream, event and request ids: one counter, never reused
        self._sizes: dict[int, int] = {}  # live buffer id -> bytes
        self._waiting: dict[int, _Waiter] = {}  # request id -> who waits for its reply
        self._sinks: dict[int, list] = {}  # copy-back request id -> [host bytes, bytes still to come]
        self._outbox: queue.Queue = queue.Queue(_OUTBOX)
        self._channel = channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self._stats = channel.unary_unary(method("Stats"), pb.StatsRequest.SerializeToString, pb.StatsReply.FromString)
        try:
            hello = channel.unary_unary(method("Hello"), pb.HelloRequest.SerializeToString, pb.HelloReply.FromString)(
                pb.HelloRequest(protocol=PROTOCOL), metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as exc:
            self._channel.close()
            raise (RemoteAuthError if exc.code() == grpc.StatusCode.UNAUTHENTICATED else DeviceLostError)(
                f"remote device at {address}: {exc.code().name}: {exc.details()}") from None
        self._chunk, self._free_estimate, self._allocated = hello.chunk_bytes, hello.memory_bytes, 0
        self._heard = time.monotonic()
        # Requests go out as frames joined into one Batch (wire.frame), so no serializer on the way out.
        self._session = channel.stream_stream(method("Session"), None, pb.Reply.FromString)(
            self._batches(), metadata=self._metadata)
        threading.Thread(target=self._read, name="halkit-remote-replies", daemon=True).start()
        self.last_kernel_s = 0.0  # server-side launch time reported by the last stream synchronize
        self.measured = self._measure(probe_bytes, "fill" in hello.ops)
        self._caps = self._capabilities(hello)

    # --- what the device is ----------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return self._caps

    def _capabilities(self, hello) -> Capabilities:
        server, m = decode_spec(hello.cost), self.measured
        h2d, d2h, latency = m["h2d_bandwidth"], m["d2h_bandwidth"], m["round_trip_s"]
        if not hello.host_memory:  # the server's device sits behind its own link: both are crossed in series
            h2d = 1 / (1 / h2d + 1 / server.link_bandwidth)
            d2h = 1 / (1 / d2h + 1 / (server.link_bandwidth_d2h or server.link_bandwidth))
            latency += server.link_latency
        spec = server.replace(
            name=f"remote {self.address} ({server.name})", link_bandwidth=h2d, link_bandwidth_d2h=d2h,
            link_latency=latency, launch_overhead=max(server.launch_overhead, m["launch_s"]),
            memory_bytes=hello.memory_bytes,
            source=f"kernels: the server's {hello.driver!r} driver; link and launch: measured by this client")
        # The server's kernels are this device's; its memory, copies, streams and errors are this file's, so
        # only what the server's driver lacks in ops carries over.
        unsupported = {k: v for k, v in hello.unsupported.items() if k.split(".")[0] == "ops"}
        return Capabilities(ops=hello.ops, dtypes=hello.dtypes, memory_bytes=hello.memory_bytes, host_memory=False,
                            cost=spec, unsupported=unsupported,
                            op_dtypes={entry.op: tuple(entry.dtypes) for entry in hello.op_dtypes})

    def _measure(self, nbytes: int, can_fill: bool) -> dict:
        """Round trip, pipelined launch cost and bandwidth both ways, timed on this session's own path."""
        def best_of_3(run):
            times = []
            for _ in range(3):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            return min(times)
        rtt = statistics.median(self.ping() for _ in range(9))
        stream, probe = self.default_stream, np.zeros(nbytes, np.uint8)
        remote = empty(probe.shape, np.uint8, self)
        up = best_of_3(lambda: (self.copy_in(remote, probe, stream), self.synchronize(stream)))
        down = best_of_3(lambda: (self.copy_out(probe, remote, stream), self.synchronize(stream)))
        launch_s, n = 0.0, 64
        if can_fill:
            out, params = empty((1,), np.float32, self), dict(shape=(1,), dtype="float32", value=0.0)
            burst = best_of_3(lambda: ([self.launch("fill", [out], [], params, stream) for _ in range(n)],
                                       self.synchronize(stream)))
            launch_s = max(0.0, burst - rtt) / n
        return dict(round_trip_s=rtt, launch_s=launch_s, probe_bytes=nbytes,
                    h2d_bandwidth=nbytes / max(up - rtt, 1e-9), d2h_bandwidth=nbytes / max(down - rtt, 1e-9))

    def ping(self) -> float:
        """Seconds for one request to reach the server's session and its reply to come back."""
        start = time.perf_counter()
        self._ask(ping=pb.Ping())
        return time.perf_counter() - start

    def server_stats(self) -> dict:
        """The server's counters: sessions open, bytes and buffers allocated (all clients together)."""
        reply = self._stats(pb.StatsRequest(), metadata=self._metadata, timeout=self._timeout)
        return dict(sessions=reply.sessions, allocated_bytes=reply.allocated_bytes, buffers=reply.buffers)

    # --- memory ------------------------------------------------------------------------------------------
    def allocate(self, nbytes: int) -> RemoteBuffer:
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
            raise ValueError(f"nbytes must be a non-negative int, got {nbytes!r}")
        buffer, nbytes = RemoteBuffer(next(self._ids)), int(nbytes)
        if nbytes > self._free_estimate:  # it may not fit: ask, so that an OutOfMemoryError is raised here
            try:
                self._ask(allocate=pb.Allocate(buffer=buffer.id, nbytes=nbytes))
            except OutOfMemoryError:
                self._send("free", pb.Free(buffer=buffer.id))  # forget the failed id on the server
                raise
        else:
            self._send("allocate", pb.Allocate(buffer=buffer.id, nbytes=nbytes))
            self._free_estimate -= nbytes
        self._sizes[buffer.id] = nbytes
        self._allocated += nbytes
        return buffer

    def free(self, buffer) -> None:
        if self._closed or self._lost:
            return  # the server has already freed everything this session held
        if self._sizes.pop(getattr(buffer, "id", None), None) is None:
            raise BufferFreedError(f"{buffer!r} is not allocated on the remote device at {self.address} (freed twice?)")
        self._send("free", pb.Free(buffer=buffer.id))

    def _ref(self, array) -> pb.ArrayRef:
        if array.driver is not self:
            raise DeviceError(f"{array!r} lives on device {array.driver.name!r}, not on {self.name!r}")
        if array.buffer.id not in self._sizes:
            raise BufferFreedError(f"{array!r} views a buffer that was freed")
        return pb.ArrayRef(buffer=array.buffer.id, offset=array.offset, shape=array.shape, dtype=array.dtype.name)

    @staticmethod
    def _check_host(name, host, device):
        # Sizes, not shapes, must agree: np.ascontiguousarray turns the 0-D arrays callers pass into shape (1,).
        if not isinstance(host, np.ndarray) or host.size != device.size or host.dtype != device.dtype:
            raise ValueError(f"{name} must be a NumPy array of {device.size} {device.dtype} elements (shape "
                             f"{device.shape}), got {getattr(host, 'shape', type(host).__name__)} "
                             f"{getattr(host, 'dtype', '')}")

    # --- transfers ---------------------------------------------------------------------------------------
    def copy_in(self, dst, src, stream) -> None:
        self._ref(dst)
        self._check_host("src", src, dst)
        data = memoryview(np.ascontiguousarray(src).reshape(-1).view(np.uint8))
        for start in range(0, len(data), self._chunk):
            part = bytes(data[start:start + self._chunk])  # a copy: the caller may reuse src on return
            self._put(copy_in_frame(stream.id, dst.buffer.id, dst.offset + start, part))

    def copy_out(self, dst, src, stream) -> None:
        self._ref(src)
        self._check_host("dst", dst, src)
        if not (dst.flags.c_contiguous and dst.flags.writeable):
            raise ValueError("dst must be a writeable C-contiguous NumPy array")
        if dst.nbytes:
            request = next(self._ids)
            self._sinks[request] = [dst.reshape(-1).view(np.uint8), dst.nbytes]
            self._send("copy_out", pb.CopyOut(stream=stream.id, buffer=src.buffer.id, offset=src.offset,
                                              nbytes=src.nbytes, request=request))

    # --- compute -----------------------------------------------------------------------------------------
    def launch(self, op, outputs, inputs, params, stream) -> None:
        specs, params = opset.infer(op, inputs, params)  # a bad launch fails here, at the call, as locally
        if [(s.shape, s.dtype) for s in specs] != [(o.shape, o.dtype) for o in outputs]:
            raise ValueError(f"{op}: outputs are {[(o.shape, o.dtype.name) for o in outputs]}, the op produces "
                             f"{[(s.shape, s.dtype.name) for s in specs]}")
        args = [pb.Arg(none=True) if x is None else pb.Arg(list=pb.ArrayList(items=[self._ref(v) for v in x]))
                if isinstance(x, list) else pb.Arg(array=self._ref(x)) for x in inputs]
        self._send("launch", pb.Launch(stream=stream.id, op=op, outputs=[self._ref(o) for o in outputs], inputs=args,
                                       params={k: encode_value(v) for k, v in params.items()}))

    # --- ordering ----------------------------------------------------------------------------------------
    def create_stream(self) -> RemoteStream:
        stream = RemoteStream(next(self._ids))
        self._send("create_stream", pb.CreateStream(stream=stream.id))
        return stream

    def record(self, stream) -> RemoteEvent:
        event = RemoteEvent(next(self._ids))
        self._send("record", pb.Record(stream=stream.id, event=event.id))
        return event

    def wait(self, stream, event) -> None:
        if not event.done:
            self._send("wait", pb.Wait(stream=stream.id, event=event.id))

    def query(self, event) -> bool:
        event.done = event.done or self._ask(query=pb.Query(event=event.id)).flag
        return event.done

    def synchronize(self, target=None, timeout: float | None = None) -> None:
        if isinstance(target, RemoteEvent):
            if not target.done:
                self._ask(timeout, sync=pb.Sync(event=target.id))
                target.done = True
        elif isinstance(target, RemoteStream):
            self.last_kernel_s = self._ask(timeout, sync=pb.Sync(stream=target.id)).kernel_s
        elif target is None:
            self._ask(timeout, sync=pb.Sync())
        else:
            raise TypeError(f"target must be None, a stream or an event of this device, got {target!r}")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._session.cancel()  # the server frees this session's buffers when the call ends
            try:
                self._outbox.put_nowait(None)  # ends the request stream (it may be waiting for a command)
            except queue.Full:
                pass
            self._channel.close()

    # --- the session stream ------------------------------------------------------------------------------
    def _send(self, kind: str, body) -> None:
        self._put(frame(kind, body))

    def _put(self, framed: bytes) -> None:
        """Queue a command for the link; waits (never past a lost link) while the queue is full."""
        while True:
            self._alive()
            try:
                self._outbox.put(framed, timeout=0.1)
                return
            except queue.Full:
                continue

    def _ask(self, timeout: float | None = None, **command) -> pb.Done:
        """Send a command that gets a reply and wait for it: the reply, or the error it carries, raised."""
        request = next(self._ids)
        (kind, body), = command.items()
        body.request = request
        waiter = self._waiting[request] = _Waiter(self._allocated)
        self._send(kind, body)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not waiter.event.wait(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))):
            self._alive()
            if deadline is not None and time.monotonic() >= deadline:
                self._waiting.pop(request, None)
                raise RemoteTimeoutError(f"timed out after {timeout:g} s waiting for {kind} on the remote device at "
                                         f"{self.address}")
        self._alive()
        done = waiter.done
        # Free memory as the server saw it, less what this client allocated since it asked.
        self._free_estimate = done.free_bytes - (self._allocated - waiter.allocated)
        if done.HasField("error"):
            error = decode_error(done.error)
            if isinstance(error, (OutOfMemoryError, BufferFreedError, DeviceLostError)):
                raise error
            raise StreamError(done.error.message) from error
        return done

    def _alive(self) -> None:
        """Raise if the device is closed or lost; declare it lost once the server has been silent too long."""
        if self._closed:
            raise DeviceError(f"the remote device at {self.address} was closed")
        if self._lost is None and time.monotonic() - self._heard > self._timeout:
            time.sleep(0.2)  # this process may have been the busy one: let the reply reader catch up first
            if time.monotonic() - self._heard > self._timeout:
                self._lose(f"no reply or heartbeat for {self._timeout:g} s")
        if self._lost is not None:
            raise DeviceLostError(self._lost)

    def _lose(self, why: str) -> None:
        if self._lost is None:
            self._lost = f"remote device at {self.address} lost: {why}; its buffers are gone"
            self._session.cancel()
        for waiter in list(self._waiting.values()):
            waiter.event.set()

    def _batches(self):
        """The request stream: whatever is queued goes out together, in one message of up to _BATCH_BYTES."""
        while True:
            framed = self._outbox.get()
            if framed is None:
                return
            batch, size = [framed], len(framed)
            while size < _BATCH_BYTES:
                try:
                    framed = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if framed is None:
                    yield b"".join(batch)
                    return
                batch.append(framed)
                size += len(framed)
            yield b"".join(batch)

    def _read(self) -> None:
        """The reply stream: wake waiters, fill copy-back destinations, note every sign of life."""
        try:
            for reply in self._session:
                self._heard = time.monotonic()
                kind = reply.WhichOneof("kind")
                if kind == "done":
                    waiter = self._waiting.pop(reply.done.request, None)
                    if waiter is not None:
                        waiter.done = reply.done
                        waiter.event.set()
                elif kind == "data":
                    sink, data = self._sinks[reply.data.request], reply.data.data
                    sink[0][reply.data.offset:reply.data.offset + len(data)] = np.frombuffer(data, np.uint8)
                    sink[1] -= len(data)
                    if not sink[1]:
                        del self._sinks[reply.data.request]
            why = "the server ended the session (it is shutting down)"
        except grpc.RpcError as exc:
            why = f"{exc.code().name}: {exc.details()}"
        except Exception as exc:  # noqa: BLE001 - a reply that cannot be applied: nothing after it can be trusted
            why = f"an unusable reply from the server ({type(exc).__name__}: {exc})"
        self._lose(why)
