"""The mock accelerator as a HAL driver: the device contract, explicit residency, stats, errors.

Every op × dtype of the op set also runs on "mock" in tests/hal (each test there runs on every registered driver).
"""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import halkit.device as hd
import halkit.hal as hal
from halkit.device import MockDriver
from halkit.device.workloads import mlp_parameters, mlp_reference
from halkit.hal import opset
from halkit.hal.builtin.numpy_reference import NumpyDriver

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def driver():
    """A MockDriver on a private 64 MiB device, so counts start at zero and limits are small."""
    with hd.Device("a100-pcie", memory_bytes=64 << 20) as device:
        yield MockDriver(device)


def test_mock_is_registered_through_the_entry_point_and_follows_the_environment():
    code = ("import halkit.hal as h\n"
            "d = h.get_backend('mock')\n"
            "print(h.current_backend(), type(d).__name__, d.device.name, d.capabilities().cost.name)\n")
    env = dict(os.environ, HALKIT_BACKEND="mock", HALKIT_MOCK_DEVICE="1", HALKIT_MOCK_DEVICES="a100-pcie,edge-npu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.split() == ["mock", "MockDriver", "mock:1", "edge-npu"], out.stderr


def test_capabilities_declare_a_device_behind_a_link(driver):
    caps = driver.capabilities()
    spec = driver.device.spec
    assert isinstance(driver, hal.Driver) and not caps.host_memory and not driver.host_memory
    assert caps.ops == frozenset(opset.OPS)  # every op its host kernels run
    assert caps.dtypes == ("float32", "float64") and caps.memory_bytes == 64 << 20 and caps.cost is spec
    assert caps.link == hal.Link(spec.link_bandwidth, spec.link_bandwidth, spec.link_latency)


def test_ops_on_device_arrays_stay_on_the_device_and_match_the_reference(driver, rng):
    x = rng.standard_normal((8, 16)).astype(np.float32)
    w = rng.standard_normal((4, 16)).astype(np.float32)
    dx, dw = hal.to_device(x, driver), hal.to_device(w, driver)
    y = hal.linear(dx, dw, None, "gelu")
    z = hal.softmax(y)
    assert isinstance(z, hal.DeviceArray) and z.device == "mock" and z.shape == (8, 4)
    reference = hal.reference()
    np.testing.assert_allclose(z.numpy(), reference.softmax(reference.gemm(x, w, None, False, True, "gelu")),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(dx[3].numpy(), x[3])  # a view at a byte offset of the same buffer
    np.testing.assert_array_equal(dx.reshape(16, 8).numpy(), x.reshape(16, 8))
    np.testing.assert_allclose(driver.relu(x), np.maximum(x, 0))  # NumPy arrays: uploaded, launched, downloaded


def test_device_memory_cannot_be_read_by_the_host(driver):
    dx = hal.to_device(np.ones(3, np.float32), driver)
    for access in (np.asarray, list, float, lambda a: a[0:2], bool):
        with pytest.raises(hal.HostAccessError):
            access(dx)
    with pytest.raises(hal.HostAccessError, match="copy it with"):
        np.asarray(dx.buffer)


def test_out_of_memory_leaves_nothing_reserved(driver):
    keep = hal.to_device(np.ones(8 << 20, np.float32), driver)  # 32 of 64 MiB
    with pytest.raises(hal.OutOfMemoryError, match="requested 41,943,040 bytes"):
        hal.to_device(np.ones(10 << 20, np.float32), driver)
    assert driver.stats()["memory_used"] == keep.nbytes and driver.stats()["live_buffers"] == 1


def test_out_of_memory_when_the_host_cannot_back_the_buffer():
    """The mock's memory is host RAM: numpy's MemoryError becomes OutOfMemoryError and the reservation goes back."""
    with hd.Device("a100-pcie", memory_bytes=1 << 62) as device:
        driver = MockDriver(device)
        with pytest.raises(hal.OutOfMemoryError, match="host could not back") as info:
            driver.allocate(1 << 60)
        assert isinstance(info.value, MemoryError)
        stats = device.memory_stats()
        assert stats["used"] == 0 and stats["allocations"] == 0 and stats["live_buffers"] == 0
        driver.free(driver.allocate(16))  # still usable


def test_free_is_stream_ordered_and_returns_at_once(driver):
    stream, gate = driver.create_stream(), threading.Event()
    stream.host_func(lambda: gate.wait(10))
    view = hal.empty((4,), np.float32, driver)
    buffer = view.buffer
    stream.fill(view, 2.0)  # queued behind the gate
    out = np.zeros(4, np.float32)
    driver.copy_out(out, view, stream)
    start = time.perf_counter()
    driver.free(buffer)  # the queued fill and copy still use it
    assert time.perf_counter() - start < 1.0 and driver.stats()["memory_used"] == 16
    with pytest.raises(hal.BufferFreedError, match="use after free"):
        stream.fill(view, 3.0)  # issued after the free
    gate.set()
    driver.synchronize(stream, timeout=10)
    np.testing.assert_array_equal(out, [2, 2, 2, 2])
    assert driver.stats()["memory_used"] == 0
    with pytest.raises(hal.BufferFreedError, match="double free"):
        driver.free(buffer)


def test_a_free_from_a_finalizer_never_waits_for_a_lock(driver):
    """A garbage-collector finalizer can run while its thread holds the allocator's lock: free must not block."""
    buffer = driver.allocate(64)
    with driver.device.allocator.lock:  # as if a finalizer ran inside an allocation on this very thread
        driver.free(buffer)  # a blocking acquire here would deadlock (the lock is not re-entrant)
        assert buffer.freed
    assert driver.stats()["memory_used"] == 0  # returned once the lock was free again


def test_dropping_a_device_array_inside_its_own_stream_does_not_deadlock(driver):
    stream = driver.default_stream
    held = [hal.to_device(np.ones(4, np.float32), driver)]
    stream.host_func(held.clear)  # the last reference dies on the worker: its finalizer frees the buffer there
    driver.synchronize(stream, timeout=10)
    assert driver.stats()["memory_used"] == 0


def test_streams_and_events_map_onto_the_device(driver):
    copy, compute = hal.Stream(driver), hal.Stream(driver)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with copy:
        dx = hal.to_device(x, driver)
    landed = copy.record()
    compute.wait(landed)
    with compute:
        y = hal.scale(dx, 2.0, 1.0)
    done = compute.record()
    done.synchronize(timeout=10)
    assert done.query() and landed.query()
    np.testing.assert_array_equal(y.numpy(), 2 * x + 1)
    with pytest.raises(TypeError, match="event must be a halkit.hal.Event"):
        compute.wait("x")
    with pytest.raises(TypeError, match="event must be a halkit.device.Event"):
        driver.wait(compute.handle, "x")
    with pytest.raises(TypeError, match="target must be None"):
        driver.synchronize("everything")
    with pytest.raises(TypeError, match="stream must be a stream of this driver"):
        driver.copy_in(dx, x, "default")
    with pytest.raises(TypeError, match=r"source \(src\) must be a NumPy array"):
        driver.copy_in(dx, [[0, 1, 2], [3, 4, 5]], driver.default_stream)
    with hd.Device("edge-npu") as other:
        with pytest.raises(hal.DeviceError, match="belongs to device"):
            driver.record(other.stream())


def test_a_device_failure_surfaces_from_an_op_and_frees_its_temporaries():
    class Broken(NumpyDriver):
        def softmax(self, x):
            raise ArithmeticError("softmax unit on fire")

    with hd.Device("a100-pcie", memory_bytes=1 << 24, kernel_backend=Broken()) as device:
        driver = MockDriver(device)
        with pytest.raises(hal.StreamError, match="softmax unit on fire"):
            driver.softmax(np.ones((2, 2), np.float32))
        np.testing.assert_array_equal(driver.relu(np.ones(2, np.float32)), [1, 1])  # reported, then usable
        assert device.memory_stats()["used"] == 0


def test_second_forward_moves_only_input_and_output_bytes(driver):
    """Explicit residency: weights uploaded once stay on the device; each forward moves its input and output."""
    sizes, batch = (512, 512, 512, 10), 64
    params = mlp_parameters(sizes)
    x = np.random.default_rng(1).standard_normal((batch, sizes[0])).astype(np.float32)
    weights = [(hal.to_device(w, driver), hal.to_device(b, driver)) for w, b in params]

    def forward(x):
        h = hal.to_device(x, driver)
        for i, (w, b) in enumerate(weights):
            h = hal.linear(h, w, b, activation="relu" if i < len(weights) - 1 else None)
        return h.numpy()

    resident = sum(w.nbytes + b.nbytes for w, b in params)
    driver.synchronize()
    assert driver.stats()["h2d_bytes"] == resident
    moved = []
    for _ in range(2):
        driver.reset_stats()
        y = forward(x)
        moved.append(driver.stats())
        np.testing.assert_allclose(y, mlp_reference(x, params), rtol=1e-4, atol=1e-4)
    for stats in moved:
        assert (stats["h2d_copies"], stats["h2d_bytes"]) == (1, x.nbytes)
        assert (stats["d2h_copies"], stats["d2h_bytes"]) == (1, batch * sizes[-1] * 4)
        assert stats["launches"] == 3 and stats["fallbacks"] == 0
        assert stats["memory_used"] == resident  # the activations were freed with their DeviceArrays

    params[0] = (params[0][0] - 0.01, params[0][1])  # an optimizer step, then a new upload of the weight
    weights[0] = (hal.to_device(params[0][0], driver), weights[0][1])
    np.testing.assert_allclose(forward(x), mlp_reference(x, params), rtol=1e-4, atol=1e-4)
    assert driver.stats()["memory_used"] == resident  # the old weight went with its last DeviceArray


def test_ops_the_device_lacks_fall_back_to_the_host_counted():
    class OnlyRelu(hal.HostDriver):
        name = "only-relu"

        def relu(self, x):
            return np.maximum(x, 0)

    with hd.Device("a100-pcie", memory_bytes=1 << 24, kernel_backend=OnlyRelu()) as device:
        driver = MockDriver(device, name="mock-only-relu")
        assert driver.capabilities().ops == {"relu"}
        x = hal.to_device(np.ones((2, 3), np.float32), driver)
        with pytest.warns(hal.HostFallbackWarning, match="'mock-only-relu' has no kernel for 'tanh'"):
            y = hal.tanh(x)
        np.testing.assert_allclose(y.numpy(), np.tanh(np.ones((2, 3))), rtol=1e-6)
        stats = driver.stats()
        assert stats["fallbacks"] == 1 and stats["launches"] == 0 and stats["d2h_copies"] == 2
        driver.reset_stats()
        assert driver.stats()["fallbacks"] == 0


def test_a_driver_on_any_device_registers_under_its_own_name():
    code = ("import numpy as np, halkit.hal as hal, halkit.device as hd\n"
            "device = hd.Device('edge-npu', memory_bytes=1 << 24)\n"
            "hal.register_backend('edge', hd.MockDriver(device, name='edge'))\n"
            "with hal.use('edge'):\n"
            "    y = hal.add(np.ones(2, np.float32), np.ones(2, np.float32))\n"
            "d = hal.get_backend('edge')\n"
            "print(y.tolist(), hal.to_device(y, 'edge').device, d.capabilities().cost.name)\n"
            "d.close()\n"
            "try:\n"
            "    d.allocate(4)\n"
            "except hal.DeviceError as err:\n"
            "    print(device.closed, err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == ["[2.0, 2.0] edge edge-npu", "True driver 'edge' is closed"], out.stderr


def test_hal_linear_trains_the_same_under_mock_and_numpy(mock):
    torch = pytest.importorskip("torch")
    from halkit.torch import HALLinear

    def train(backend):
        torch.manual_seed(0)
        with hal.use(backend):
            model = torch.nn.Sequential(HALLinear(8, 16), torch.nn.ReLU(), HALLinear(16, 1))
            opt = torch.optim.SGD(model.parameters(), lr=0.05)
            x, y = torch.randn(32, 8), torch.randn(32, 1)
            losses = []
            for _ in range(20):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses, [p.detach().clone() for p in model.parameters()]

    losses_np, params_np = train("numpy")
    losses_mock, params_mock = train("mock")
    np.testing.assert_allclose(losses_mock, losses_np, rtol=1e-5, atol=1e-6)
    for a, b in zip(params_mock, params_np):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert losses_mock[-1] < losses_mock[0]
