"""Modelled time on the device: each command's duration, stream clocks, events and engine sharing."""
import json

import numpy as np
import pytest

import halkit.device as hd

pytestmark = pytest.mark.timeout(60)


def _records(device, kind):
    return [r for r in device.trace.records if r.kind == kind]


def test_copy_of_n_bytes_takes_latency_plus_n_over_bandwidth(simple_spec):
    with hd.Device(simple_spec) as device:
        buf = device.alloc((1000, 250), np.float32)  # 1 MB
        s = device.stream()
        s.copy_to_device(buf, np.zeros((1000, 250), np.float32))
        device.to_host(buf, s)
    h2d, d2h = _records(device, "h2d")[0], _records(device, "d2h")[0]
    expected = 2e-6 + 10**6 / 1e10
    assert h2d.model_duration == pytest.approx(expected) and d2h.model_duration == pytest.approx(expected)
    assert h2d.nbytes == 10**6 and d2h.model_start == pytest.approx(h2d.model_end)  # back to back in stream order


def test_gemm_kernel_is_on_the_roofline(simple_spec):
    m, k, n = 128, 64, 32
    with hd.Device(simple_spec) as device:
        s = device.stream()
        a, b, c = device.alloc((m, k)), device.alloc((k, n)), device.alloc((m, n))
        s.launch("gemm", c, a, b)
        s.synchronize()
    gemm = _records(device, "kernel")[0]
    traffic = (m * k + k * n + m * n) * 4
    assert gemm.flops == 2 * m * k * n and gemm.nbytes == traffic
    assert gemm.model_duration == pytest.approx(1e-6 + max(2 * m * k * n / 1e12, traffic / 1e11))
    assert gemm.bound == "memory"


def test_elementwise_kernel_is_memory_bound(simple_spec):
    with hd.Device(simple_spec) as device:
        s = device.stream()
        x, y = device.alloc(10**5), device.alloc(10**5)
        s.launch("relu", y, x)
        s.synchronize()
    relu = _records(device, "kernel")[0]
    assert relu.bound == "memory" and relu.model_duration == pytest.approx(1e-6 + 8e5 / 1e11)


def test_event_wait_delays_the_model_clock(simple_spec):
    with hd.Device(simple_spec) as device:
        a, b = device.stream("a"), device.stream("b")
        a.host_func(lambda: None, seconds=1e-3)
        ev = a.record()
        b.wait(ev)
        b.host_func(lambda: None, seconds=1e-4, name="after")
        device.synchronize()
    after = next(r for r in device.trace.records if r.name == "after")
    assert after.model_start == pytest.approx(1e-3) and after.model_end == pytest.approx(1.1e-3)


def test_copy_and_compute_overlap_on_two_streams(simple_spec):
    """An upload on one stream and a kernel on another occupy different engines: they overlap in the model."""
    with hd.Device(simple_spec) as device:
        copy, compute = device.stream("copy"), device.stream("compute")
        big = device.alloc(10**6)
        x, y = device.alloc((512, 512)), device.alloc((512, 512))
        copy.copy_to_device(big, np.zeros(10**6, np.float32))
        compute.launch("gemm", y, x, x)
        device.synchronize()
    h2d, gemm = _records(device, "h2d")[0], _records(device, "kernel")[0]
    assert h2d.model_start == gemm.model_start == 0.0
    assert device.trace.summary()["makespan"] == pytest.approx(max(h2d.model_duration, gemm.model_duration))


def test_two_uploads_share_the_link(simple_spec):
    """Two streams copying host→device at once are serialised on the one h2d engine."""
    with hd.Device(simple_spec) as device:
        bufs = [device.alloc(250_000) for _ in range(2)]
        for i, buf in enumerate(bufs):
            device.stream(f"s{i}").copy_to_device(buf, np.zeros(250_000, np.float32))
        device.synchronize()
    first, second = sorted(_records(device, "h2d"), key=lambda r: r.model_start)
    assert second.model_start == pytest.approx(first.model_end)


def test_host_waits_advance_the_issue_time(simple_spec):
    """A command issued after the host waited for the device cannot start before that point."""
    with hd.Device(simple_spec) as device:
        a = device.stream("a")
        a.host_func(lambda: None, seconds=5e-4)
        a.synchronize()
        b = device.stream("b")
        b.host_func(lambda: None, seconds=1e-4, name="late")
        b.synchronize()
    late = next(r for r in device.trace.records if r.name == "late")
    assert late.model_start == pytest.approx(5e-4)


def test_chrome_trace_has_one_event_per_command(simple_spec, tmp_path):
    with hd.Device(simple_spec) as device:
        s, t = device.stream("s"), device.stream("t")
        buf = device.alloc(1000)
        s.copy_to_device(buf, np.ones(1000, np.float32))
        ev = s.record()
        t.wait(ev)
        t.launch("relu", device.alloc(1000), buf)
        t.synchronize()
        path = device.trace.save_chrome(tmp_path / "trace.json")
    issued = 5  # copy, record, wait, relu, synchronize
    data = json.load(open(path))
    complete = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert len(complete) == issued == len(device.trace.to_dicts())
    relu = next(e for e in complete if e["name"] == "relu")
    assert relu["cat"] == "kernel" and relu["args"]["bound"] == "memory" and relu["dur"] > 0
    threads = {e["args"]["name"] for e in data["traceEvents"] if e["name"] == "thread_name"}
    assert threads == {"s", "t"}
    real = device.trace.to_chrome(clock="real")
    assert len([e for e in real["traceEvents"] if e["ph"] == "X"]) == issued
    row = device.trace.to_dicts()[0]
    assert {"stream", "kind", "nbytes", "flops", "real_start", "real_end", "model_start", "model_end", "bound"} <= set(row)


def test_conv2d_runs_on_the_device_as_its_im2col_gemm(simple_spec):
    assert hash(simple_spec) == hash(simple_spec.replace())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    with hd.Device(simple_spec) as device:
        s = device.stream()
        dx, dw, dy = device.to_device(x, s), device.to_device(w, s), device.alloc((2, 4, 6, 6))
        s.launch("conv2d", dy, dx, dw, stride=(1, 1), padding=(0, 0), dilation=(1, 1))
        y = device.to_host(dy, s)
        with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['strides'\]"):
            s.launch("conv2d", dy, dx, dw, strides=(1, 1))
    import halkit.hal as hal
    with hal.use("numpy"):
        np.testing.assert_allclose(y, hal.conv2d(x, w), rtol=1e-5, atol=1e-5)
    conv = _records(device, "kernel")[0]
    m, k, n = 2 * 6 * 6, 3 * 3 * 3, 4
    assert conv.flops == 2 * m * k * n  # the im2col GEMM's FLOPs


def test_unknown_ops_parameters_and_bad_arguments_are_refused_by_name(device):
    s, buf = device.stream(), device.alloc((2, 2))
    with pytest.raises(hd.DeviceError, match="unknown op 'tanhh'"):
        s.launch("tanhh", buf, buf)
    with pytest.raises(ValueError, match="unknown parameter"):
        s.launch("gemm", buf, buf, buf, activaton="relu")
    with pytest.raises(ValueError, match="activation"):
        s.launch("gemm", buf, buf, buf, activation="tanh")
    with pytest.raises(ValueError, match="gemm: a and b must be 2-D"):
        s.launch("gemm", buf, device.alloc(4), buf)  # a 1-D buffer
    with pytest.raises(TypeError, match="relu input 'x' must be a device Buffer or a DeviceArray"):
        s.launch("relu", buf, np.ones((2, 2), np.float32))
    with pytest.raises(hd.DeviceError, match="layer_norm_backward writes 3 output"):
        s.launch("layer_norm_backward", buf, buf, buf)


def test_every_op_of_the_op_set_launches_like_the_reference(device):
    """Multi-output ops, variadic inputs, int64 indices and factories: the stream runs the whole op set."""
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    s = device.stream()
    dx, dg = device.to_device(x, s), device.to_device(g, s)
    outs = [device.alloc((3, 4)), device.alloc(4), device.alloc(4)]
    s.launch("layer_norm_backward", outs, dg, dx, None, eps=1e-5)
    cat = device.alloc((6, 4))
    s.launch("cat", cat, [dx, dg], axis=0)
    rows = device.alloc((2, 4))
    s.launch("embedding", rows, dx, device.to_device(np.array([2, 0]), s))
    normal = device.alloc((5,))
    s.launch("random_normal", normal, shape=(5,), dtype="float32", seed=3)
    import halkit.hal as hal

    reference = hal.reference()
    for got, want in zip(outs, reference.layer_norm_backward(g, x, None, eps=1e-5)):
        np.testing.assert_allclose(device.to_host(got, s), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(device.to_host(cat, s), np.concatenate([x, g]))
    np.testing.assert_array_equal(device.to_host(rows, s), x[[2, 0]])
    np.testing.assert_array_equal(device.to_host(normal, s), reference.random_normal((5,), "float32", 3))
    assert [r.name for r in _records(device, "kernel")] == ["layer_norm_backward", "cat", "embedding",
                                                             "random_normal"]
