"""Streams and events: ordering, cross-stream waits, concurrency, poisoned streams, clean shutdown."""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import halkit.device as hd
from halkit.hal.builtin.numpy_reference import NumpyDriver

pytestmark = pytest.mark.timeout(60)


def test_commands_on_one_stream_run_in_issue_order(device):
    s, seen = device.stream(), []
    for i in range(50):
        s.host_func(lambda i=i: seen.append(i))
    s.synchronize(timeout=10)
    assert seen == list(range(50))


def test_copy_launch_copy_round_trip(device):
    s = device.stream()
    x = np.arange(-6, 6, dtype=np.float32).reshape(3, 4)
    dx, dy = device.alloc(x.shape), device.alloc(x.shape)
    s.copy_to_device(dx, x)
    s.launch("relu", dy, dx)
    dz = device.alloc(x.shape)
    s.copy_on_device(dz, dy)
    out = np.empty_like(x)
    s.copy_to_host(out, dz)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    s.fill(dz, 2.5)
    np.testing.assert_array_equal(device.to_host(dz, s), np.full(x.shape, 2.5, np.float32))


def test_pageable_upload_is_staged_at_call_time(device):
    s = device.stream()
    gate = threading.Event()
    s.host_func(lambda: gate.wait(10))  # hold the stream so the copy cannot have run yet
    x = np.ones(4, np.float32)
    buf = device.alloc(4)
    s.copy_to_device(buf, x)
    x[:] = 5  # reusing a pageable array right away is safe: its bytes were staged
    gate.set()
    np.testing.assert_array_equal(device.to_host(buf, s), np.ones(4))


def test_pinned_copies_are_asynchronous(device):
    s = device.stream()
    gate = threading.Event()
    pinned = device.alloc_pinned(4)
    pinned.array[:] = 3
    buf = device.alloc(4)
    s.host_func(lambda: gate.wait(10))
    s.copy_to_device(buf, pinned)
    back = device.alloc_pinned(4)
    s.copy_to_host(back, buf)  # returns at once, the stream is still gated
    assert not s.query() and not back.array.any()
    gate.set()
    s.synchronize(timeout=10)
    np.testing.assert_array_equal(back.array, [3, 3, 3, 3])


def test_wait_on_event_really_waits(device):
    producer, consumer = device.stream("producer"), device.stream("consumer")
    order = []
    producer.host_func(lambda: (time.sleep(0.3), order.append("slow producer")))
    ready = producer.record()
    consumer.wait(ready)
    consumer.host_func(lambda: order.append("consumer"))
    consumer.synchronize(timeout=10)
    assert order == ["slow producer", "consumer"]
    assert ready.query()


def test_wait_captures_the_event_as_recorded_at_call_time(device):
    a, b = device.stream(), device.stream()
    gate = threading.Event()
    ev = a.record()  # nothing before it
    a.host_func(lambda: gate.wait(10))
    b.wait(ev)
    a.record(ev)  # re-recorded behind the gate: b's earlier wait must not move
    b.synchronize(timeout=5)
    assert not ev.query()
    gate.set()
    ev.synchronize(timeout=10)


def test_two_streams_make_progress_together(device):
    barrier = threading.Barrier(2, timeout=5)  # only passes if both commands run at the same time
    a, b = device.stream(), device.stream()
    a.host_func(barrier.wait)
    b.host_func(barrier.wait)
    a.synchronize(timeout=10)
    b.synchronize(timeout=10)


def test_failing_kernel_poisons_its_stream_until_synchronize(simple_spec):
    class Broken(NumpyDriver):
        def relu(self, x):
            raise FloatingPointError("kernel exploded")
    with hd.Device(simple_spec, kernel_backend=Broken()) as device:
        s = device.stream()
        x, y = device.alloc(4), device.alloc(4)
        s.fill(x, 1.0)
        s.launch("relu", y, x)
        ran = []
        s.host_func(lambda: ran.append(True))  # after the failure: skipped
        with pytest.raises(hd.StreamError, match="kernel exploded") as info:
            s.synchronize(timeout=10)
        assert isinstance(info.value.__cause__, FloatingPointError) and not ran
        statuses = [r.status for r in device.trace.records if r.kind in ("kernel", "host_func")]
        assert statuses == ["failed", "skipped"]
        s.host_func(lambda: ran.append(True))  # the error was reported: the stream works again
        s.synchronize(timeout=10)
        assert ran == [True]


def test_failure_propagates_through_events_and_blocking_copies(device):
    a, b = device.stream(), device.stream()
    a.host_func(lambda: 1 / 0)
    ev = a.record()
    b.wait(ev)
    buf = device.alloc(2)
    b.fill(buf, 0.0)
    with pytest.raises(hd.StreamError, match="ZeroDivisionError"):
        b.copy_to_host(np.empty(2, np.float32), buf, timeout=10)  # blocking copy reports it
    with pytest.raises(hd.StreamError, match="ZeroDivisionError"):
        ev.synchronize(timeout=10)
    with pytest.raises(hd.StreamError):
        a.synchronize(timeout=10)
    a.synchronize(timeout=10)


def test_event_timing_on_the_model_clock(device):
    s = device.stream()
    start = s.record()
    s.host_func(lambda: None, seconds=0.004)
    end = s.record()
    end.synchronize(timeout=10)
    assert start.elapsed_time(end) == pytest.approx(4.0)
    assert start.elapsed_time(end, clock="real") >= 0
    with pytest.raises(hd.DeviceError, match="synchronize"):
        start.elapsed_time(hd.Event())


def test_close_joins_every_worker(no_thread_leaks):
    device = hd.Device("edge-npu")
    for _ in range(3):
        device.stream().host_func(lambda: time.sleep(0.05))
    device.default_stream.fill(device.alloc(8), 0)
    device.close()
    device.close()  # idempotent
    with pytest.raises(hd.DeviceError, match="closed"):
        device.alloc(2)
    with pytest.raises(hd.DeviceError, match="closed"):
        device.stream()


def test_context_manager_closes(no_thread_leaks):
    with hd.Device("tpu-v1") as device:
        device.stream().synchronize(timeout=10)
    assert device.closed


def test_unreported_failure_is_warned_about_on_close():
    device = hd.Device("edge-npu")
    device.stream().host_func(lambda: 1 / 0)
    with pytest.warns(RuntimeWarning, match="unreported failure"):
        device.close()


def test_interpreter_exits_with_devices_left_open():
    code = ("import halkit.device as hd\n"
            "d = hd.Device('edge-npu'); s = d.stream(); s.fill(d.alloc(4), 1.0)\n"
            "print('done')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr


def test_a_host_function_that_frees_a_buffer_used_later_neither_deadlocks_nor_corrupts(device):
    """The free is stream-ordered: the fill and copy issued before it still run on the buffer, later uses raise."""
    s, gate = device.stream(), threading.Event()
    buf = device.alloc(4)
    s.host_func(lambda: gate.wait(10))
    s.host_func(buf.free, name="free")  # runs on the worker, with the two commands below still queued
    s.fill(buf, 3.0)
    back = device.alloc_pinned(4)
    s.copy_to_host(back, buf)
    gate.set()
    s.synchronize(timeout=10)
    np.testing.assert_array_equal(back.array, [3, 3, 3, 3])
    assert device.memory_stats()["used"] == 0
    with pytest.raises(hd.BufferFreedError, match="use after free"):
        s.fill(buf, 1.0)


def test_a_host_function_waiting_for_its_own_stream_raises_instead_of_hanging(device):
    s = device.stream()
    buf = device.alloc(4)
    s.host_func(lambda: s.synchronize(), name="sync inside")
    with pytest.raises(hd.StreamError, match="waited for stream .* queued behind it on the same stream"):
        s.synchronize(timeout=10)
    s.host_func(lambda: s.copy_to_host(np.empty(4, np.float32), buf), name="blocking copy inside")
    with pytest.raises(hd.StreamError, match="waited for copy_to_host queued behind it"):
        s.synchronize(timeout=10)
    s.host_func(device.close, name="close inside")
    with pytest.raises(hd.StreamError, match="cannot be closed from one of its own streams"):
        s.synchronize(timeout=10)
    s.fill(buf, 1.0)  # reported: the stream works again
    s.synchronize(timeout=10)


def test_the_interpreter_exits_after_a_host_function_freed_a_queued_buffer():
    code = ("import halkit.device as hd\n"
            "d = hd.Device('edge-npu'); s = d.stream(); b = d.alloc(4)\n"
            "s.host_func(b.free); s.fill(b, 1.0)\n"
            "print('done')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr


def test_bad_arguments_to_stream_commands_name_the_argument(device):
    s, buf = device.stream(), device.alloc((2, 2))
    with pytest.raises(TypeError, match=r"copy_to_device source \(src\) must be a NumPy array .* got list"):
        s.copy_to_device(buf, [[1, 2], [3, 4]])
    with pytest.raises(TypeError, match=r"copy_to_host destination \(dst\) must be a NumPy array .* got list"):
        s.copy_to_host([0, 0, 0, 0], buf)
    with pytest.raises(TypeError, match=r"copy_to_device destination \(dst\) must be a device Buffer"):
        s.copy_to_device(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="gemm: a and b must be 2-D"):
        s.launch("gemm", buf, device.alloc(2), buf)
    with pytest.raises(TypeError, match=r"event must be a halkit.device.Event \(from stream.record\(\)\), got str"):
        s.wait("x")
    with pytest.raises(TypeError, match="fn must be callable"):
        s.host_func("not a function")


def test_devices_are_enumerable():
    found = hd.devices()
    assert len(found) >= 1 and hd.get_device(0) is found[0]
    assert [d.name for d in found] == [f"mock:{i}" for i in range(len(found))]
    with pytest.raises(hd.DeviceError, match="no mock device"):
        hd.get_device(99)
