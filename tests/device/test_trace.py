"""The trace: host spans beside the device's commands, one Chrome/Perfetto file for both, a readable table, a bound."""
import json
import threading

import numpy as np
import pytest

import halkit.device as hd
import halkit.hal as hal
from halkit.device import MockDriver

pytestmark = pytest.mark.timeout(60)


def test_host_spans_cover_the_device_work_they_waited_for(simple_spec):
    with hd.Device(simple_spec) as device:
        driver = MockDriver(device)
        x = np.ones((100, 250), np.float32)
        with device.trace.host_span("step"):
            with device.trace.host_span("forward"):
                y = driver.relu(x)  # NumPy in: upload, launch, download, wait
        with pytest.raises(ZeroDivisionError), device.trace.host_span("broken"):
            1 / 0
    np.testing.assert_array_equal(y, x)
    records = device.trace.records
    spans = {r.name: r for r in records if r.kind == "host"}
    assert set(spans) == {"step", "forward", "broken"} and spans["broken"].status == "failed"
    assert all(r.stream == "host" and r.engine is None for r in spans.values())
    device_work = [r for r in records if r.engine]
    assert [r.kind for r in device_work] == ["h2d", "kernel", "d2h"]
    forward, step = spans["forward"], spans["step"]
    assert step.index < forward.index < device_work[0].index  # issue order: the spans opened first
    assert forward.model_start == 0.0 and forward.model_end == pytest.approx(device_work[-1].model_end)
    assert step.real_start <= forward.real_start <= forward.real_end <= step.real_end


def test_one_chrome_trace_holds_host_lanes_and_device_streams(simple_spec, tmp_path):
    with hd.Device(simple_spec) as device:
        driver = MockDriver(device)
        with device.trace.host_span("main op"):
            driver.relu(np.ones(8, np.float32))
        def in_thread():
            with device.trace.host_span("worker op"):
                pass
        thread = threading.Thread(target=in_thread, name="loader")
        thread.start()
        thread.join()
        data = json.load(open(device.trace.save_chrome(tmp_path / "trace.json")))
    events = data["traceEvents"]
    processes = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    assert processes == {0: "simple (model time)", 1: "host (model time)"}
    lanes = {(e["pid"], e["args"]["name"]) for e in events if e["name"] == "thread_name"}
    assert lanes == {(1, "host"), (1, "host:loader"), (0, "default")}
    spans = [e for e in events if e["ph"] == "X" and e["cat"] == "host"]
    assert sorted(e["name"] for e in spans) == ["main op", "worker op"] and all(e["pid"] == 1 for e in spans)
    kernels = [e for e in events if e["ph"] == "X" and e["cat"] == "kernel"]
    assert [e["name"] for e in kernels] == ["relu"] and kernels[0]["pid"] == 0


def test_the_table_reads_in_microseconds_and_bytes(simple_spec):
    with hd.Device(simple_spec) as device:
        MockDriver(device).relu(np.ones((1000, 250), np.float32))  # 1 MB each way
        table = device.trace.table()
    text = str(table)
    assert "stream" in text.splitlines()[1] and "µs" in text and "MB" in text
    assert len(table) == len(device.trace) and "relu" in text
    assert "<table>" in table._repr_html_()
    assert "records" in repr(device.trace) and "µs" in repr(device.trace)


def test_the_trace_keeps_only_its_newest_records(simple_spec):
    with hd.Device(simple_spec, trace_capacity=16) as device:
        s = device.stream()
        for _ in range(40):
            s.host_func(lambda: None)
        s.synchronize(timeout=10)
        assert len(device.trace) == device.trace.capacity == 16
        assert device.trace.records[-1].kind == "sync"
    with pytest.raises(TypeError, match="name must be a str"):
        with device.trace.host_span(3):
            pass


def test_the_hal_driver_exposes_its_trace(mock):
    assert mock.trace is mock.device.trace
    with hal.use("mock"):
        hal.relu(np.ones(4, np.float32))
    assert [r.kind for r in mock.trace.records[-4:]] == ["h2d", "kernel", "d2h", "sync"]
