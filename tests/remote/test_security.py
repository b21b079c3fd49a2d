"""What guards the device: loopback by default, a token on every call, sessions that cannot see each other,
memory that goes back when a client goes, a graceful stop."""
import ipaddress
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest

from halkit import hal
from halkit.hal import BufferFreedError, DeviceLostError
from halkit.remote import device_pb2 as pb
from halkit.remote import start_server
from halkit.remote.driver import RemoteAuthError, RemoteDriver
from halkit.remote.wire import TOKEN_METADATA, read_token

from .raw import RawSession, unary


def _listening(pid: int) -> list[str]:
    return [c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback  # gRPC may listen on ::ffff:127.0.0.1


def test_default_bind_is_loopback_only(server):
    addresses = _listening(server.pid)
    assert addresses and all(_loopback(a) for a in addresses), addresses


def test_another_address_needs_the_flag_and_warns():
    refused = subprocess.run([sys.executable, "-m", "halkit.remote", "serve", "--host", "0.0.0.0"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "--allow-non-loopback" in refused.stderr
    with start_server("numpy", args=["--host", "0.0.0.0", "--allow-non-loopback"]) as server:
        assert not any(_loopback(a) for a in _listening(server.pid))  # gRPC listens on "::" (all addresses)
        assert re.search(r"WARNING: listening on 0\.0\.0\.0: .*NOT encrypted", server.log())


def test_wrong_or_missing_token_is_refused_on_every_rpc(server):
    with pytest.raises(RemoteAuthError, match="UNAUTHENTICATED"):
        RemoteDriver(server.address, token="not-the-token")
    for name, request in (("Hello", pb.HelloRequest(protocol=1)), ("Stats", pb.StatsRequest())):
        for metadata in ((), ((TOKEN_METADATA, "wrong"),)):
            with pytest.raises(grpc.RpcError) as refused:
                unary(server, name, request.SerializeToString(), metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    session = RawSession(server, token="wrong")
    session.send("ping", pb.Ping(request=1))
    reply = session.reply()
    session.close()
    assert isinstance(reply, grpc.RpcError) and reply.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "refused a /halkit.remote.Device/Session call: wrong token" in server.log()


def test_generated_token_file_is_private_logged_by_path_only_and_removed_on_stop():
    process = subprocess.Popen([sys.executable, "-m", "halkit.remote", "serve", "--driver", "numpy",
                                "--exit-with-parent"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        token_line = process.stdout.readline()
        ready = process.stdout.readline()
        path = Path(token_line.split("token file ", 1)[1].strip())
        assert "serving numpy on 127.0.0.1:" in ready
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        token = read_token(path)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert token not in token_line + ready + out + err, "the token itself appeared in the server's output"
    assert not path.exists() and not path.parent.exists()


def test_sessions_cannot_touch_each_others_buffers(server, remote):
    """A second session naming the first one's buffer id can neither read, write nor free it."""
    secret = np.arange(16, dtype=np.float32)
    x = hal.to_device(secret, remote)
    intruder = RawSession(server)
    ref = pb.ArrayRef(buffer=x.buffer.id, offset=0, shape=[16], dtype="float32")
    intruder.send("create_stream", pb.CreateStream(stream=1))
    intruder.send("copy_out", pb.CopyOut(stream=1, buffer=x.buffer.id, offset=0, nbytes=64, request=2))
    intruder.send("sync", pb.Sync(request=3, stream=1))
    read = intruder.reply()
    assert read.WhichOneof("kind") == "done" and read.done.request == 3, "the intruder got data back"
    assert read.done.error.kind == "BufferFreedError" and "not allocated in this session" in read.done.error.message
    intruder.send("copy_in", pb.CopyIn(stream=1, buffer=x.buffer.id, offset=0, data=bytes(64)))
    intruder.send("launch", pb.Launch(stream=1, op="relu", outputs=[ref], inputs=[pb.Arg(array=ref)]))
    intruder.send("free", pb.Free(buffer=x.buffer.id))
    intruder.send("sync", pb.Sync(request=4, stream=1))
    intruder.send("ping", pb.Ping(request=5))
    replies = [intruder.reply().done for _ in range(2)]
    intruder.close()
    # The write is reported at the stream's sync, the free (on no stream) with the first other reply. The ping is
    # answered at once and the sync once the stream drains, so the two may arrive in either order.
    assert sorted((r.request, r.error.kind) for r in replies) == [(4, "BufferFreedError"), (5, "BufferFreedError")]
    np.testing.assert_array_equal(x.numpy(), secret)


def _allocated(driver) -> int:
    """Server memory in use, once the frees this client issued so far (garbage collection) have arrived."""
    driver.synchronize()
    return driver.server_stats()["allocated_bytes"]


def _eventually(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_closed_client_frees_its_memory(server, remote):
    before = _allocated(remote)
    other = server.connect(probe_bytes=1 << 20)
    held = hal.to_device(np.ones(4 << 20, np.float32), other)
    assert _allocated(remote) >= before + held.nbytes
    other.close()
    assert _eventually(lambda: _allocated(remote) == before)


_CLIENT = """
import os, sys, time, numpy as np
from halkit import hal
from halkit.remote.driver import RemoteDriver
driver = RemoteDriver(sys.argv[1], sys.argv[2], probe_bytes=1 << 20)
x = hal.to_device(np.ones(8 << 20, np.float32), driver)
driver.synchronize()
print("holding", flush=True)
time.sleep(600)
"""


def test_a_killed_client_frees_its_memory(server, remote):
    """A client process that dies without closing: its connection drops and the server frees its buffers."""
    before = _allocated(remote)
    client = subprocess.Popen([sys.executable, "-c", _CLIENT, server.address, server.token_file],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "holding"
        assert _allocated(remote) >= before + (32 << 20)
    finally:
        client.kill()
        client.wait()
    assert _eventually(lambda: _allocated(remote) == before), remote.server_stats()


def test_sigterm_stops_gracefully_and_clients_learn_it(fresh_server):
    driver = fresh_server.connect(probe_bytes=1 << 20)
    x = hal.to_device(np.ones(1000, np.float32), driver)
    start = time.monotonic()
    fresh_server.process.send_signal(signal.SIGTERM)
    assert fresh_server.process.wait(10) == 0 and time.monotonic() - start < 5
    with pytest.raises(DeviceLostError, match="shutting down|UNAVAILABLE|CANCELLED"):
        x.numpy()
    assert "closing 1 session(s)" in fresh_server.log() and "stopped" in fresh_server.log()
    driver.close()
    driver.free(x.buffer)  # after close: a no-op, as garbage collection may run late


_PARENT = """
import time
from halkit.remote import start_server
server = start_server("numpy")
print(server.pid, server.token_file, flush=True)
time.sleep(600)
"""


def test_a_server_outlives_no_parent():
    """The process that started a server is killed (no cleanup runs): the server notices and stops, and removes
    the token file it made."""
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    pid, token_file = parent.stdout.readline().split()
    parent.kill()
    parent.wait()
    server = psutil.Process(int(pid))
    assert _eventually(lambda: not server.is_running() or server.status() == psutil.STATUS_ZOMBIE, 10), \
        f"server {pid} still running after its parent died"
    assert not Path(token_file).exists()
