"""When things go wrong: the server dies or hangs, the link drops, a request times out, memory runs out, a
client sends garbage. The caller gets a clear halkit error within 5 s — never a hang — and other clients of a
healthy server are not disturbed."""
import signal
import threading
import time

import grpc
import numpy as np
import pytest

from halkit import hal
from halkit.hal import DeviceLostError, OutOfMemoryError, StreamError
from halkit.remote import device_pb2 as pb
from halkit.remote.driver import RemoteDriver
from halkit.remote.wire import MAX_MESSAGE_BYTES, TOKEN_METADATA, read_token

from .conftest import SERVER_MEMORY
from .raw import Proxy, RawSession, silent_listener, unary

LIMIT_S = 5.0  # the bound on how long a caller may wait to learn the device is gone


def _busy(driver, stop: threading.Event, failures: list):
    """A caller in the middle of real work: launches and synchronizes until the device fails under it."""
    x = hal.to_device(np.ones((256, 256), np.float32), driver)
    try:
        while not stop.is_set():
            y = hal.matmul(x, x)
            y.numpy()
    except Exception as exc:  # noqa: BLE001 - the failure is what the test looks at
        failures.append((time.monotonic(), exc))


def _lost_within_limit(driver, make_it_fail):
    stop, failures = threading.Event(), []
    worker = threading.Thread(target=_busy, args=(driver, stop, failures), daemon=True)
    worker.start()
    time.sleep(0.3)
    assert not failures, failures
    broke_at = time.monotonic()
    make_it_fail()
    worker.join(LIMIT_S + 2)
    stop.set()
    assert not worker.is_alive(), "the caller was still waiting after the device failed (a hang)"
    (failed_at, error), = failures
    assert isinstance(error, DeviceLostError), f"{type(error).__name__}: {error}"
    assert failed_at - broke_at < LIMIT_S, f"took {failed_at - broke_at:.1f} s to notice"
    start = time.monotonic()  # and from then on, every call says so at once
    with pytest.raises(DeviceLostError):
        hal.to_device(np.ones(4, np.float32), driver)
    assert time.monotonic() - start < 0.5
    return error


def test_server_killed_mid_run(fresh_server):
    driver = fresh_server.connect(probe_bytes=1 << 20)
    _lost_within_limit(driver, fresh_server.kill)
    driver.close()


def test_server_hung_mid_run(fresh_server):
    """A server that stops answering without closing anything (SIGSTOP): only the heartbeat shows it."""
    driver = fresh_server.connect(probe_bytes=1 << 20)
    try:
        error = _lost_within_limit(driver, lambda: fresh_server.process.send_signal(signal.SIGSTOP))
        assert "heartbeat" in str(error) or "UNAVAILABLE" in str(error)
    finally:
        fresh_server.process.send_signal(signal.SIGCONT)
        driver.close()


def test_link_dropped_mid_run(server):
    proxy = Proxy(server.address)
    driver = RemoteDriver(proxy.address, server.token_file, probe_bytes=1 << 20)
    _lost_within_limit(driver, proxy.cut)
    driver.close()


def test_connecting_to_a_server_that_never_answers_times_out():
    listener, address = silent_listener()
    with listener:
        start = time.monotonic()
        with pytest.raises(DeviceLostError, match="DEADLINE_EXCEEDED|UNAVAILABLE"):
            RemoteDriver(address, token="anything", timeout=2.0)
        assert time.monotonic() - start < LIMIT_S


def test_connecting_to_nothing_is_a_clear_error():
    listener, address = silent_listener()
    listener.close()
    with pytest.raises(DeviceLostError, match="UNAVAILABLE"):
        RemoteDriver(address, token="anything")


def test_out_of_memory_is_the_hal_error_and_leaves_nothing_reserved(server, remote):
    with pytest.raises(OutOfMemoryError, match="--max-memory"):
        remote.allocate(SERVER_MEMORY + 1)
    held = hal.empty((SERVER_MEMORY // 8 // 2,), np.float64, remote)  # half the device
    with pytest.raises(OutOfMemoryError):
        remote.allocate(SERVER_MEMORY // 2 + 4096)
    del held
    remote.synchronize()
    hal.empty((SERVER_MEMORY // 8,), np.float64, remote)  # the whole device again: nothing leaked


def test_out_of_memory_caused_by_another_client_surfaces_at_the_next_synchronize(server, remote):
    """This client's estimate of free memory is stale when another client fills the device; its unconfirmed
    allocation fails on the server, and the next synchronize says so (and the id is then unusable)."""
    other = server.connect(probe_bytes=1 << 20)
    try:
        remote.synchronize()  # the estimate: (nearly) the whole device is free
        hog = hal.empty((SERVER_MEMORY // 8 - 1024,), np.float64, other)
        other.synchronize()
        late = hal.empty((1 << 20,), np.float32, remote)  # fits the estimate, not the device
        with pytest.raises(OutOfMemoryError):
            remote.synchronize()
        with pytest.raises((OutOfMemoryError, StreamError)):
            late.numpy()
        del hog, late
    finally:
        other.close()


def test_a_failing_launch_surfaces_at_synchronize_once(remote):
    """Launches do not wait for the server: a failure only the device sees shows at the next synchronize."""
    stream = remote.create_stream()
    weight = hal.to_device(np.ones((4, 3), np.float32), remote)
    indices = hal.to_device(np.array([0, 9], np.int64), remote)
    out = hal.empty((2, 3), np.float32, remote)
    remote.launch("embedding", [out], [weight, indices], {}, stream)  # returns: nothing was waited for
    with pytest.raises(StreamError, match="embedding on stream") as failure:
        remote.synchronize(stream)
    assert isinstance(failure.value.__cause__, IndexError)
    remote.synchronize(stream)  # reported once


def test_garbage_and_oversized_requests_fail_alone(server, remote):
    """Bytes that are no protobuf, and a message over the server's limit, get a clear gRPC error; a client
    of the same server keeps working throughout."""
    metadata = ((TOKEN_METADATA, read_token(server.token_file)),)
    with pytest.raises(grpc.RpcError) as garbage:
        unary(server, "Hello", b"\xff\xfe not a protobuf", metadata)
    assert garbage.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
    session = RawSession(server)
    session.send_bytes(b"\x0a\xff\xff\xff\xff\x0f")  # a Batch whose first command claims 4 GiB
    assert session.reply().code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
    session.close()
    session = RawSession(server)
    session.send_bytes(b"\x0a" + bytes(MAX_MESSAGE_BYTES + 1))
    refused = session.reply()
    session.close()
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in refused.details()
    x = np.arange(10.0, dtype=np.float32)
    np.testing.assert_array_equal(hal.to_device(x, remote).numpy(), x)


@pytest.mark.parametrize("command, error", [
    (pb.Command(launch=pb.Launch(stream=1, op="no_such_op")), "unknown op"),
    (pb.Command(launch=pb.Launch(stream=1, op="relu", outputs=[pb.ArrayRef(buffer=7, shape=[4], dtype="float32")],
                                 inputs=[pb.Arg(array=pb.ArrayRef(buffer=7, offset=8, shape=[4], dtype="float32"))])),
     "does not fit buffer 7"),
    (pb.Command(launch=pb.Launch(stream=1, op="relu", outputs=[pb.ArrayRef(buffer=7, shape=[4], dtype="object")],
                                 inputs=[pb.Arg(array=pb.ArrayRef(buffer=7, shape=[4], dtype="float32"))])),
     "dtype 'object'"),
    (pb.Command(launch=pb.Launch(stream=1, op="relu", outputs=[pb.ArrayRef(buffer=7, shape=[2], dtype="float32")],
                                 inputs=[pb.Arg(array=pb.ArrayRef(buffer=7, shape=[4], dtype="float32"))])),
     "the op produces"),
    (pb.Command(copy_in=pb.CopyIn(stream=1, buffer=7, offset=15, data=b"12")), "does not fit buffer 7"),
    (pb.Command(launch=pb.Launch(stream=99, op="relu")), "stream 99 was not created"),
    (pb.Command(wait=pb.Wait(stream=1, event=12345)), "event 12345 was not recorded"),
    (pb.Command(), "empty command"),
])
def test_malformed_commands_are_refused_with_a_reason(server, command, error):
    session = RawSession(server)
    session.send("allocate", pb.Allocate(buffer=7, nbytes=16))
    session.send("create_stream", pb.CreateStream(stream=1))
    session.send_bytes(pb.Batch(commands=[command]).SerializeToString())
    session.send("sync", pb.Sync(request=2, stream=1))
    session.send("ping", pb.Ping(request=3))
    replies = [session.reply().done for _ in range(2)]
    session.close()
    messages = [r.error.message for r in replies if r.HasField("error")]
    assert len(messages) == 1 and error in messages[0], messages


def test_a_busy_client_is_not_mistaken_for_a_dead_server(remote):
    """This process holds the GIL longer than the heartbeat timeout (a builtin sum over a range never lets another
    thread run): the heartbeats queued meanwhile prove the server alive, so the next call works."""
    start, n = time.perf_counter(), 1 << 20
    while time.perf_counter() - start < remote._timeout + 1.0:
        start, n = time.perf_counter(), 2 * n
        sum(range(n))  # the last one runs past the timeout
    assert time.perf_counter() - start > remote._timeout + 0.5
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(hal.to_device(x, remote).numpy(), x)
