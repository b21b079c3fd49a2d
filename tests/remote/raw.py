"""Clients that do what the real driver never does: hand-made frames, no token, a link that drops."""
from __future__ import annotations

import queue
import socket
import threading

import grpc

from halkit.remote import device_pb2 as pb
from halkit.remote.wire import TOKEN_METADATA, frame, method, read_token


class RawSession:
    """A Session call driven by hand: ``send(kind, body)`` any command, ``reply()`` the next non-heartbeat."""

    def __init__(self, server, token: str | None = None):
        self.channel = grpc.insecure_channel(server.address)
        self._out: queue.Queue = queue.Queue()
        self._in: queue.Queue = queue.Queue()
        token = read_token(server.token_file) if token is None else token
        self.call = self.channel.stream_stream(method("Session"), None, pb.Reply.FromString)(
            iter(self._out.get, None), metadata=[(TOKEN_METADATA, token)])
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for reply in self.call:
                if reply.WhichOneof("kind") != "heartbeat":
                    self._in.put(reply)
        except grpc.RpcError as exc:
            self._in.put(exc)

    def send(self, kind: str, body) -> None:
        self._out.put(frame(kind, body))

    def send_bytes(self, data: bytes) -> None:
        self._out.put(data)

    def reply(self, timeout: float = 10.0):
        """The next Reply, or the RpcError that ended the call."""
        return self._in.get(timeout=timeout)

    def close(self) -> None:
        self.call.cancel()
        self._out.put(None)
        self.channel.close()


def unary(server, name: str, request: bytes, metadata=()) -> bytes:
    """Call RPC ``name`` with raw request bytes (no serializer: garbage goes out as it is)."""
    with grpc.insecure_channel(server.address) as channel:
        return channel.unary_unary(method(name))(request, metadata=metadata, timeout=10)


class Proxy:
    """A TCP forwarder between client and server whose ``cut()`` drops every connection, like a dead link."""

    def __init__(self, target: str):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass

    def cut(self):
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def silent_listener() -> tuple[socket.socket, str]:
    """A socket that accepts connections and never says a word (a server that hangs before answering)."""
    listener = socket.create_server(("127.0.0.1", 0))
    return listener, f"127.0.0.1:{listener.getsockname()[1]}"
