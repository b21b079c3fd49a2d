"""On the mock accelerator: results match eager, partitions run on the device with their intermediates there, the
link carries only the partition's inputs and outputs, and the report's modelled time is the device trace's."""
import pytest
import torch
import torch.nn as nn

import halkit.runtime as rt
from halkit import hal

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def mock():
    """The "mock" driver; registered here too when the package's entry point is not installed (a source tree)."""
    try:
        return hal.get_backend("mock")
    except hal.BackendUnavailableError:
        hal.register_backend("mock", "halkit.device.driver:MockDriver")
        return hal.get_backend("mock")


def _calls(mock, compiled, x, expected, times=2):
    """Stats and trace span (modelled seconds, first command to last) of each of ``times`` calls."""
    found = []
    for _ in range(times):
        mock.synchronize()
        mock.trace.clear()
        mock.reset_stats()
        torch.testing.assert_close(compiled(x), expected, atol=1e-4, rtol=1e-4)
        mock.synchronize()
        records = [r for r in mock.trace.records if r.kind in ("h2d", "d2h", "kernel")]
        span = max(r.model_end for r in records) - min(r.model_start for r in records)
        found.append((mock.stats(), span))
    return found


@pytest.fixture
def compiled_mlp(mock):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256))
    x = torch.randn(128, 256)
    with torch.no_grad():
        compiled, report = rt.compile(model, (x,), device="mock")
        calls = _calls(mock, compiled, x, model(x))
    return model, x, report, calls


def test_profitable_mlp_runs_on_the_mock_device(compiled_mlp):
    model, x, report, calls = compiled_mlp
    graph = report.graph("inference")
    assert graph.partitions and graph.partitions[0].kernels == ("linear[relu]", "linear")
    assert {s.lane for s in graph.timeline} >= {"h2d", "device", "d2h"}
    for stats, _ in calls:  # both linears ran as kernels on the device, nothing fell back to the host
        assert stats["launches"] == 2 and stats["fallbacks"] == 0


def test_the_second_call_moves_only_the_input_and_the_output(compiled_mlp):
    model, x, report, calls = compiled_mlp
    stats = calls[1][0]
    assert (stats["h2d_copies"], stats["h2d_bytes"]) == (1, x.numel() * 4)
    assert (stats["d2h_copies"], stats["d2h_bytes"]) == (1, 128 * 256 * 4)
    part = report.graph("inference").partitions[0]  # the report states what the device counted
    assert (part.bytes_in, part.bytes_out) == (stats["h2d_bytes"], stats["d2h_bytes"])


def test_an_optimizer_step_is_seen_by_the_next_call(mock):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    x = torch.randn(32, 64)
    with torch.no_grad():
        compiled, _ = rt.compile(model, (x,), device="mock")
        compiled(x)
        for p in model.parameters():
            p.mul_(0.5)  # an in-place update, as an optimizer's
        torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-5)


def test_report_time_equals_the_device_trace_for_notebook_05s_block(mock):
    """Notebook 05's transformer encoder block, at a size where the device pays: one partition, and the modelled
    time of a call is the mock's trace of it within 1 %."""
    torch.manual_seed(0)
    block = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, activation="gelu", batch_first=True)
    tokens = torch.randn(8, 64, 64)
    with torch.no_grad():
        compiled, report = rt.compile(block, (tokens,), device="mock")
        calls = _calls(mock, compiled, tokens, block(tokens))
    graph = report.graph("inference")
    assert len(graph.partitions) == 1 and all(p.where == "hal_0" for p in graph.placements), str(graph)
    for stats, span in calls:
        assert span == pytest.approx(graph.modelled_s, rel=0.01)
        assert stats["fallbacks"] == 0 and (stats["h2d_copies"], stats["d2h_copies"]) == (1, 1)


def test_a_model_on_the_torch_device_keeps_its_partitions_there(mock):
    """torch.compile of a model whose parameters live on the PyTorch device "halkit" (the mock's memory): its
    partition runs on the device in place — fused, nothing crossing the link but the caller's own input."""
    import copy

    import halkit.torch.device as device

    if not device.available():
        pytest.skip("the torch device extension is not built (python -m halkit.build)")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.LayerNorm(64), nn.Linear(64, 8))
    with device.use(mock):
        compiled = torch.compile(copy.deepcopy(model).to("halkit"), backend="halkit")
        x = torch.randn(16, 32)
        compiled(x.to("halkit"))
        torch.halkit.synchronize()  # the first call's commands are done before counting
        mock.reset_stats()
        y = compiled(x.to("halkit"))
        torch.halkit.synchronize()
    stats = mock.stats()
    forward = rt.last_report().graph("forward")
    assert forward.partitions[0].kernels == ("linear[relu]", "layer_norm", "linear") and forward.bytes_moved == 0
    assert stats["launches"] == 3 and stats["h2d_bytes"] == x.numel() * 4 and stats["d2h_bytes"] == 0
    torch.testing.assert_close(y.cpu(), model(x), rtol=1e-5, atol=1e-6)
