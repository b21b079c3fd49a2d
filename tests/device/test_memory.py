"""Device memory: capacity, stats, and every misuse turned into a clear error."""
import threading

import numpy as np
import pytest

import halkit.device as hd
from halkit.hal import HalError


def test_alloc_free_and_stats(device):
    buf = device.alloc((256, 256), np.float32)
    stats = device.memory_stats()
    assert stats["used"] == 256 * 256 * 4 and stats["live_buffers"] == 1 and stats["free"] == (1 << 24) - 256 * 256 * 4
    buf.free()
    stats = device.memory_stats()
    assert stats["used"] == 0 and stats["peak"] == 256 * 256 * 4 and stats["allocations"] == stats["frees"] == 1


def test_out_of_memory_names_requested_and_free_bytes(device):
    keep = device.alloc((1 << 20,), np.float64)  # 8 MiB of 16
    with pytest.raises(hd.OutOfMemoryError, match=r"requested 16,777,216 bytes but only 8,388,608 of 16,777,216"):
        device.alloc((1 << 21,), np.float64)
    assert isinstance(hd.OutOfMemoryError("x"), HalError)
    keep.free()
    device.alloc((1 << 21,), np.float64).free()  # fits again once freed


def test_use_after_free_and_double_free(device):
    buf = device.alloc(4)
    buf.free()
    with pytest.raises(hd.BufferFreedError, match="double free"):
        buf.free()
    with pytest.raises(hd.BufferFreedError, match="use after free"):
        device.default_stream.fill(buf, 1.0)
    with pytest.raises(hd.BufferFreedError, match="use after free"):
        device.default_stream.copy_to_host(np.empty(4, np.float32), buf)


def test_host_cannot_touch_device_memory(device):
    buf = device.alloc((2, 3))
    for access in (np.asarray, lambda b: b[0], lambda b: b.__setitem__(0, 1.0), list, len, lambda b: b.numpy()):
        with pytest.raises(hd.HostAccessError, match="copy it with"):
            access(buf)
    assert buf  # truthiness is not a host access


def test_size_and_dtype_mismatch(device):
    s = device.default_stream
    buf = device.alloc((2, 3), np.float32)
    with pytest.raises(hd.DeviceError, match="size/dtype mismatch"):
        s.copy_to_device(buf, np.zeros((3, 2), np.float32))
    with pytest.raises(hd.DeviceError, match="size/dtype mismatch"):
        s.copy_to_device(buf, np.zeros((2, 3), np.float64))
    with pytest.raises(hd.DeviceError, match="size mismatch"):
        s.launch("relu", device.alloc((3, 2)), buf)
    with pytest.raises(hd.DeviceError, match="dtype mismatch"):
        s.launch("relu", device.alloc((2, 3), np.float64), buf)
    with pytest.raises(TypeError, match="float32 or float64"):
        device.alloc(3, np.int32)


def test_buffers_of_another_device_are_refused(device):
    with hd.Device("edge-npu") as other:
        with pytest.raises(hd.DeviceError, match="lives on"):
            device.default_stream.fill(other.alloc(2), 0.0)


def test_allocation_is_thread_safe(device):
    errors = []

    def churn():
        try:
            for _ in range(200):
                device.alloc((64,), np.float32).free()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = device.memory_stats()
    assert not errors and stats["used"] == 0 and stats["allocations"] == stats["frees"] == 1600


def test_free_waits_for_enqueued_commands(device):
    s = device.default_stream
    gate = threading.Event()
    buf = device.alloc(4)
    s.host_func(lambda: gate.wait(10))
    s.fill(buf, 7.0)  # queued behind the gate
    threading.Timer(0.2, gate.set).start()
    buf.free()  # must not pull the memory from under the queued fill
    s.synchronize(timeout=10)
    assert device.memory_stats()["used"] == 0
