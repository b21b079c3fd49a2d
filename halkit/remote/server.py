"""The device server: one local driver served over gRPC to token-holding clients (``python -m halkit.remote serve``).

* **Loopback by default.** Any other address needs ``allow_non_loopback`` (``--allow-non-loopback``) and
  prints a warning: the link is not encrypted and the token is all that guards the device.
* **A token on every call.** An interceptor compares the ``x-halkit-token`` metadata in constant time and
  refuses anything else with UNAUTHENTICATED. Without ``--token-file`` a new token is written to a 0600 file
  in a private temporary directory (removed on exit); only its path is ever printed or logged.
* **Sessions are isolated** (see session.py) and end, freeing their memory, when the client's call ends —
  closed, cancelled, or its connection dropped.
* **SIGINT/SIGTERM stop it gracefully**: sessions are closed (clients see the device go), the server drains,
  the generated token file goes.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from concurrent import futures
from pathlib import Path

import grpc

from halkit import hal
from halkit.hal import decompositions, opset

from . import device_pb2 as pb
from .session import Memory, Session
from .wire import (CHUNK_BYTES, HEARTBEAT_S, MAX_MESSAGE_BYTES, PROTOCOL, SERVICE, TOKEN_METADATA, encode_spec,
                   read_token, write_token)

log = logging.getLogger("halkit.remote")

#: what the launcher (and a person) reads on stdout once the server listens.
READY_LINE = "halkit remote device: serving {driver} on {address}"
TOKEN_LINE = "halkit remote device: token file {path}"

_SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Clients ping every 2 s to find a dead link; allow it, or the server would GOAWAY them for "too many pings".
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.so_reuseport", 0),  # a port in use is an error, not shared with another server
]


class _RequireToken(grpc.ServerInterceptor):
    """Refuses every call whose metadata lacks the server's token."""

    def __init__(self, token: str):
        self._token = token.encode()

    def intercept_service(self, continuation, details):
        given = next((v for k, v in details.invocation_metadata or () if k == TOKEN_METADATA), "")
        given = given.encode() if isinstance(given, str) else given
        if hmac.compare_digest(given, self._token):
            return continuation(details)
        log.warning("refused a %s call: %s token", details.method, "wrong" if given else "no")
        handler = continuation(details)
        return None if handler is None else _refusal(handler)


def _refuse(request, context):
    context.abort(grpc.StatusCode.UNAUTHENTICATED,
                  "wrong or missing halkit token: connect with the token file this server printed "
                  "(HALKIT_REMOTE_TOKEN_FILE or halkit.remote.connect(token_file=...))")


def _refusal(handler):
    """A handler of the same kind as ``handler`` that refuses the call."""
    kinds = {(False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
             (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler}
    return kinds[handler.request_streaming, handler.response_streaming](_refuse)


class DeviceServicer:
    """The three RPCs of device.proto over one driver."""

    def __init__(self, driver, memory: Memory, max_sessions: int):
        self.driver, self.memory, self.max_sessions = driver, memory, max_sessions
        self._sessions: set[Session] = set()
        self._lock = threading.Lock()
        caps = driver.capabilities()
        # What never leaves the server: the driver's ops and those its decompositions cover. A host fallback
        # is left to the client's dispatch, where it is counted and strict mode sees it.
        ops = sorted(op for op in opset.OPS if op in caps.ops or decompositions.for_device(op, driver) is not None)
        self._hello = pb.HelloReply(
            protocol=PROTOCOL, driver=driver.name, ops=ops, dtypes=list(caps.dtypes), memory_bytes=memory.limit,
            host_memory=caps.host_memory, cost=encode_spec(caps.cost), unsupported=dict(caps.unsupported),
            chunk_bytes=CHUNK_BYTES, max_message_bytes=MAX_MESSAGE_BYTES, heartbeat_s=HEARTBEAT_S,
            op_dtypes=[pb.OpDtypes(op=op, dtypes=names) for op, names in caps.op_dtypes.items() if op in ops])

    def handler(self) -> grpc.GenericRpcHandler:
        """The service for grpc.Server: Session replies go out as the bytes Session.replies() serialized."""
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Hello": grpc.unary_unary_rpc_method_handler(self.Hello, pb.HelloRequest.FromString,
                                                         pb.HelloReply.SerializeToString),
            "Session": grpc.stream_stream_rpc_method_handler(self.Session, pb.Batch.FromString),
            "Stats": grpc.unary_unary_rpc_method_handler(self.Stats, pb.StatsRequest.FromString,
                                                         pb.StatsReply.SerializeToString),
        })

    def Hello(self, request, context):
        if request.protocol != PROTOCOL:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"protocol {request.protocol} is not this server's ({PROTOCOL}): use the same halkit version")
        return self._hello

    def Session(self, request_iterator, context):
        session = Session(self.driver, self.memory, peer=context.peer())
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              f"the server already has {self.max_sessions} sessions (--max-sessions)")
            self._sessions.add(session)
        context.add_callback(lambda: self._end(session))  # the call ended: closed, cancelled or link lost
        log.info("session %s opened", session.peer)
        threading.Thread(target=session.consume, args=(request_iterator,), name="halkit-remote-reader",
                         daemon=True).start()
        yield from session.replies()

    def Stats(self, request, context):
        with self._lock:
            buffers = sum(len(s.buffers) for s in self._sessions)
            return pb.StatsReply(sessions=len(self._sessions), allocated_bytes=self.memory.used, buffers=buffers)

    def _end(self, session: Session) -> None:
        session.close()
        with self._lock:
            self._sessions.discard(session)

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _default_memory(driver) -> int:
    """A host-memory driver gets half of the memory available now (more would risk the kernel's OOM killer)."""
    caps = driver.capabilities()
    if not caps.host_memory:
        return caps.memory_bytes
    import psutil

    return min(caps.memory_bytes, psutil.virtual_memory().available // 2)


def _token(token_file: str | None) -> tuple[str, Path, Path | None]:
    """(token, its file, a directory to remove on exit or None)."""
    if token_file is None:
        directory = Path(tempfile.mkdtemp(prefix="halkit-remote-"))  # 0700: only this user can look inside
        path = directory / "token"
        return write_token(path), path, directory
    path = Path(token_file)
    return (read_token(path) if path.exists() else write_token(path)), path, None


def serve(host: str = "127.0.0.1", port: int = 0, driver: str = "native", token_file: str | None = None,
          max_memory: int | None = None, allow_non_loopback: bool = False, max_sessions: int = 16,
          exit_with_parent: bool = False) -> int:
    """Serve ``driver`` until SIGINT/SIGTERM (or the parent process exits, with ``exit_with_parent``)."""
    # Taken first: a parent that reads the ready line may exit at once, and a parent id read after that would
    # already be the reaper's, so the server would never see the change.
    parent = os.getppid()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="halkit-remote %(levelname)s: %(message)s")
    if not is_loopback(host):
        if not allow_non_loopback:
            raise SystemExit(f"refusing to listen on {host!r}, which is not a loopback address: pass "
                             "--allow-non-loopback to serve other machines (the link is not encrypted)")
        log.warning("listening on %s: any machine that reaches it and holds the token can use this device, "
                    "and the traffic (data and token) is NOT encrypted", host)
    local = hal.get_backend(driver)
    memory = Memory(_default_memory(local) if max_memory is None else max_memory)
    token, token_path, token_dir = _token(token_file)
    servicer = DeviceServicer(local, memory, max_sessions)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_sessions + 8, thread_name_prefix="halkit-rpc"),
                         interceptors=[_RequireToken(token)], options=_SERVER_OPTIONS)
    server.add_generic_rpc_handlers((servicer.handler(),))
    address = f"[{host}]" if ":" in host and not host.startswith("[") else host
    try:
        bound = server.add_insecure_port(f"{address}:{port}")
    except RuntimeError as exc:
        bound, reason = 0, exc
    else:
        reason = "in use?"
    if not bound:
        raise SystemExit(f"cannot listen on {address}:{port} ({reason})")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the ready line: from then on a signal means "stop"
        signal.signal(sig, lambda signum, frame: stop.set())
    server.start()
    print(TOKEN_LINE.format(path=token_path), flush=True)
    print(READY_LINE.format(driver=local.name, address=f"{address}:{bound}"), flush=True)
    log.info("serving driver %r, %d bytes of device memory, at most %d sessions", local.name, memory.limit,
             max_sessions)

    while not stop.wait(0.5):
        if exit_with_parent and os.getppid() != parent:
            log.info("parent process %d exited: stopping", parent)
            break
    log.info("stopping: closing %d session(s)", len(servicer._sessions))
    servicer.close_all()
    server.stop(grace=1.0).wait(5)
    if token_dir is not None:
        shutil.rmtree(token_dir, ignore_errors=True)
    log.info("stopped")
    return 0
