"""halkit.torch.profile: one training step as one Chrome/Perfetto trace — host ops, device streams, copies, kernels.

Both routes a user has are profiled on the mock accelerator: tensors on the torch device (``model.to("halkit")``)
and HAL layers on CPU tensors under ``hal.use("mock")``. The trace must load, name its lanes, put every device
command of the window inside the window on the host's clock, move exactly the bytes the driver's stats count,
and nest sanely: each command's issuing host op starts before it, and each Chrome lane holds nested slices.
"""
import collections
import gc
import json

import pytest
import torch
from torch import nn

import halkit
import halkit.hal as hal
import halkit.torch.device as torch_device

SLACK = 1e-6  # seconds: the alignment of a device's clock to the host's is measured to well under this


@pytest.fixture(scope="module")
def mock():
    if "mock" not in hal.backends():  # a source checkout whose entry points predate the mock driver
        hal.register_backend("mock", "halkit.device.driver:MockDriver")
    return hal.get_backend("mock")


@pytest.fixture
def on_torch_device(mock):
    torch_device.require()
    with torch_device.use(mock):
        yield mock


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.LayerNorm(64), nn.Linear(64, 8))


def device_step(model, optimizer, x, target):
    """A real step: the batch goes up, forward, backward, optimizer step, the loss comes back."""
    loss = nn.functional.mse_loss(model(x.to("halkit")), target.to("halkit"))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _settle(driver):
    """Collect garbage left by earlier tests first: a buffer they dropped is freed on the stream that last used
    it, a command that would land in this test's window on a stream it never touched."""
    gc.collect()
    driver.synchronize()


@pytest.fixture
def device_profile(on_torch_device):
    """(profile of one training step on the torch device, the driver's stats of that step)."""
    model = mlp().to("halkit")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, target = torch.randn(16, 32), torch.randn(16, 8)
    device_step(model, optimizer, x, target)  # warm-up: optimizer state, kernels' first calls
    _settle(on_torch_device)
    on_torch_device.reset_stats()
    with halkit.torch.profile() as prof:
        device_step(model, optimizer, x, target)
    return prof, on_torch_device.stats()


@pytest.fixture
def layer_profile(mock):
    """The HAL-layer route: convert() on CPU tensors, the ops run on the mock under hal.use("mock")."""
    model = halkit.convert(mlp())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, target = torch.randn(16, 32), torch.randn(16, 8)

    def step():
        with hal.use("mock"):
            loss = nn.functional.mse_loss(model(x), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss.item()
    step()
    _settle(mock)
    mock.reset_stats()
    with halkit.torch.profile("mock") as prof:
        step()
    return prof, mock.stats()


def lane_names(trace: dict) -> dict[str, set]:
    """{process name: {thread names}} of a Chrome trace."""
    processes = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    lanes = collections.defaultdict(set)
    for e in trace["traceEvents"]:
        if e["name"] == "thread_name":
            lanes[processes[e["pid"]]].add(e["args"]["name"])
    return lanes


# --- the file a person opens ------------------------------------------------------------------------------------

def test_trace_loads_with_host_stream_and_engine_lanes(device_profile, tmp_path):
    prof, _ = device_profile
    path = prof.save_chrome(tmp_path / "step.json")
    trace = json.loads(open(path).read())
    lanes = lane_names(trace)
    host = next(lanes[p] for p in lanes if p.startswith("host"))
    assert "main thread" in host
    assert any(name.startswith("torch thread") for name in host), host  # backward of device tensors: autograd's
    assert lanes["mock:0: streams"] == {"stream default"}
    engines = next(lanes[p] for p in lanes if p.startswith("mock:0: engines"))
    assert {"h2d copy engine", "d2h copy engine", "compute engine"} <= engines
    slices = collections.Counter(e["name"] for e in trace["traceEvents"] if e["ph"] == "X")
    # torch's ops, the modules around them, the optimizer's annotation, and the device's commands
    for name in ("aten::addmm", "aten::mm", "Linear", "LayerNorm", "Optimizer.step#SGD.step", "gemm", "h2d copy",
                 "d2h copy", "synchronize (the host waits)", "synchronize (profile end)"):
        assert slices[name] >= 1, (name, slices)


def test_device_events_fall_inside_the_window_on_the_real_clock(device_profile):
    prof, _ = device_profile
    assert prof.device_events
    assert 0 < prof.clock_error() < SLACK
    for event in prof.device_events:
        assert -SLACK <= event.start <= event.end <= prof.duration + SLACK, event
    for span in prof.host_spans:
        assert 0 <= span.start <= span.end <= prof.duration
    slices = [e for e in prof.to_chrome()["traceEvents"] if e["ph"] == "X"]
    assert all(-1 <= e["ts"] and e["ts"] + e["dur"] <= prof.duration * 1e6 + 1 for e in slices)


def test_bytes_and_launches_match_the_driver_stats(device_profile):
    prof, stats = device_profile
    records = [e.record for e in prof.device_events]
    assert sum(r.nbytes for r in records if r.kind == "h2d") == stats["h2d_bytes"] == (16 * 32 + 16 * 8) * 4
    assert sum(r.nbytes for r in records if r.kind == "d2h") == stats["d2h_bytes"] == 4  # the loss
    assert sum(r.kind == "kernel" for r in records) == stats["launches"] > 0
    lanes = {lane.name: lane for lane in prof.lanes()}
    assert lanes["mock:0 · h2d copy engine"].bytes_copied == stats["h2d_bytes"]
    assert lanes["mock:0 · d2h copy engine"].bytes_copied == stats["d2h_bytes"]
    assert lanes["mock:0 · stream default"].bytes_copied == stats["h2d_bytes"] + stats["d2h_bytes"]
    # In the file: each copy is on its stream's lane and on its engine's, with the bytes it moved.
    copies = [e for e in prof.to_chrome()["traceEvents"] if e["ph"] == "X" and e["cat"] in ("h2d", "d2h")]
    assert sum(e["args"]["bytes copied"] for e in copies) == 2 * (stats["h2d_bytes"] + stats["d2h_bytes"])


def test_each_command_is_issued_by_a_host_op_that_starts_before_it(device_profile):
    prof, _ = device_profile
    kernels = [e for e in prof.device_events if e.record.kind == "kernel"]
    assert kernels and all(e.issuer is not None for e in kernels)
    for event in prof.device_events:
        if event.issuer is not None:
            assert event.issuer.start <= event.start, (event.issuer, event)
    issuers = {e.issuer.name for e in kernels}
    assert {"aten::addmm", "aten::mm", "aten::native_layer_norm"} <= issuers, issuers
    # The upload of the batch is issued by the op that copies it; the loss comes back through .item().
    assert {e.issuer.name for e in prof.device_events if e.record.kind == "h2d"} == {"aten::_to_copy"}
    (loss_copy,) = [e for e in prof.device_events if e.record.kind == "d2h"]
    assert loss_copy.issuer.name == "aten::_local_scalar_dense"


def test_the_host_waits_where_it_reads_the_loss(device_profile):
    prof, _ = device_profile
    (item,) = [s for s in prof.host_spans if s.name == "aten::_local_scalar_dense"]
    assert item.waited > 0  # the modelled host clock advanced: it waited for the queued step
    synchronizations = [e for e in prof.device_events if e.issuer is item and e.record.kind == "sync"]
    assert synchronizations and all(item.start <= e.end <= item.end for e in synchronizations)
    assert not [s for s in prof.host_spans if s.name == "aten::addmm" and s.waited > 0]  # launches never wait


def test_chrome_lanes_hold_nested_slices_and_flows_bind_to_their_issuer(device_profile):
    prof, _ = device_profile
    trace = prof.to_chrome()
    assert_nested(trace)
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    starts = {e["id"]: e for e in trace["traceEvents"] if e["ph"] == "s"}
    ends = [e for e in trace["traceEvents"] if e["ph"] == "f"]
    assert len(ends) == len(starts) == sum(e.issuer is not None for e in prof.device_events)
    for end in ends:
        start = starts[end["id"]]
        # the arrow leaves the innermost host slice at its time, and lands on the command at its time
        source = innermost(slices, start["pid"], start["tid"], start["ts"])
        target = innermost(slices, end["pid"], end["tid"], end["ts"])
        assert source is not None and target is not None
        assert target["args"]["issued by"].startswith(source["name"] + " (")
        assert source["ts"] <= target["ts"]


def test_summary_and_ops_tables_read_in_units(device_profile):
    prof, stats = device_profile
    summary = str(prof.summary())
    for lane in ("host · main thread", "mock:0 · stream default", "mock:0 · compute engine"):
        assert lane in summary
    assert "µs" in summary or "ms" in summary
    assert f"{stats['d2h_bytes']} B back" in summary
    ops = str(prof.ops(limit=None))
    assert "aten::addmm" in ops and "Optimizer.step#SGD.step" in ops
    lanes = {lane.name: lane for lane in prof.lanes()}
    stream = lanes["mock:0 · stream default"]
    assert stream.events == len(prof.device_events)
    assert 0 < stream.busy <= prof.duration and stream.modelled > 0


# --- the other route: HAL layers on CPU tensors ---------------------------------------------------------------

def test_hal_layers_on_cpu_tensors_are_traced_with_their_copies(layer_profile):
    prof, stats = layer_profile
    records = [e.record for e in prof.device_events]
    assert sum(r.nbytes for r in records if r.kind == "h2d") == stats["h2d_bytes"] > 0
    assert sum(r.nbytes for r in records if r.kind == "d2h") == stats["d2h_bytes"] > 0
    assert sum(r.kind == "kernel" for r in records) == stats["launches"] > 0
    halkit_ops = {e.issuer.name for e in prof.device_events if e.record.kind in ("h2d", "kernel", "d2h")}
    assert halkit_ops and all(name.startswith("halkit::") for name in halkit_ops), halkit_ops
    assert {"HALLinear"} <= {s.name for s in prof.host_spans}
    for event in prof.device_events:
        assert -SLACK <= event.start <= event.end <= prof.duration + SLACK
        if event.issuer is not None:
            assert event.issuer.start <= event.start
    assert_nested(prof.to_chrome())


# --- windows, streams, the trace switch -------------------------------------------------------------------------

def test_work_issued_before_the_profile_is_not_in_it(mock):
    x = hal.to_device(torch.randn(256, 256).numpy(), mock)
    for _ in range(5):
        hal.matmul(x, x)  # queued, maybe still running when the profile opens
    with halkit.torch.profile(mock) as prof:
        pass
    # The profile waited for them before opening; its closing synchronize finds idle streams and adds nothing.
    assert [e.record.kind for e in prof.device_events] == []
    assert "synchronize (profile end)" in {span.name for span in prof.host_spans}


def test_two_streams_at_once_stay_on_nested_lanes(mock):
    a = hal.to_device(torch.randn(128, 128).numpy(), mock)
    with halkit.torch.profile(mock) as prof:
        streams = [hal.Stream(mock), hal.Stream(mock)]
        for _ in range(4):
            for stream in streams:
                with stream:
                    hal.matmul(a, a)
        for stream in streams:
            stream.close()
    assert len({e.record.stream for e in prof.device_events if e.record.kind == "kernel"}) == 2
    assert_nested(prof.to_chrome())


def test_a_disabled_trace_is_recorded_for_the_profile_and_left_disabled(mock):
    trace = mock.trace
    trace.enabled = False
    try:
        x = hal.to_device(torch.randn(8, 8).numpy(), mock)
        with halkit.torch.profile(mock) as prof:
            hal.relu(x)
        assert [e.record.name for e in prof.device_events if e.record.kind == "kernel"] == ["relu"]
        assert trace.enabled is False
    finally:
        trace.enabled = True


def test_spans_still_open_when_the_profile_closes_end_with_it_nested(mock):
    prof = halkit.torch.profile(mock)

    class ClosesTheProfile(nn.Module):
        def forward(self, x):
            with torch.profiler.record_function("inner"):
                y = x + 1
                prof.__exit__(None, None, None)  # as a profile ended from inside a forward would
            return y

    prof.__enter__()
    ClosesTheProfile()(torch.ones(2))
    spans = {s.name: s for s in prof.host_spans}
    assert spans["ClosesTheProfile"].status == spans["inner"].status == "open at profile end"
    assert spans["aten::add.Tensor"].status == "ok"
    assert spans["ClosesTheProfile"].start < spans["inner"].start < spans["inner"].end < spans["ClosesTheProfile"].end
    assert_nested(prof.to_chrome())


# --- bad use --------------------------------------------------------------------------------------------------

def test_bad_use_raises_clear_errors(mock):
    with pytest.raises(ValueError, match="keeps no trace"):
        with halkit.torch.profile("numpy"):
            pass
    with pytest.raises(TypeError, match="devices must be"):
        halkit.torch.profile(3)
    prof = halkit.torch.profile(mock)
    with pytest.raises(RuntimeError, match="after its `with` block"):
        prof.summary()
    with pytest.raises(ValueError, match="limit must be"):
        prof.ops(limit=0)
    with prof:
        pass
    with pytest.raises(RuntimeError, match="records one window"):
        with prof:
            pass


def test_a_failing_op_is_recorded_as_failed(mock):
    with pytest.raises(RuntimeError):
        with halkit.torch.profile(mock) as prof:
            torch.ones(2, 3) @ torch.ones(2, 3)
    (failed,) = [s for s in prof.host_spans if s.name == "aten::mm"]
    assert failed.status == "failed"


# --- helpers ----------------------------------------------------------------------------------------------------

def assert_nested(trace: dict) -> None:
    """Every Chrome lane (pid, tid) holds slices that nest: none overlaps another partially."""
    lanes = collections.defaultdict(list)
    for e in trace["traceEvents"]:
        if e["ph"] == "X":
            lanes[e["pid"], e["tid"]].append((e["ts"], e["ts"] + e["dur"]))
    for lane, slices in lanes.items():
        open_ends = []
        for start, end in sorted(slices, key=lambda s: (s[0], -s[1])):
            while open_ends and open_ends[-1] <= start:
                open_ends.pop()
            assert not open_ends or end <= open_ends[-1], f"lane {lane}: a slice overlaps its parent partially"
            open_ends.append(end)


def innermost(slices, pid, tid, ts):
    """The shortest slice of lane (pid, tid) that contains time ts."""
    containing = [e for e in slices if e["pid"] == pid and e["tid"] == tid and e["ts"] <= ts <= e["ts"] + e["dur"]]
    return min(containing, key=lambda e: e["dur"], default=None)
