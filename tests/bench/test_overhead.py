"""Eager overhead (HALLinear vs nn.Linear) and the seed's latency table: rows, ratios, targets. Times never asserted."""
import math

import pytest

from halkit import hal
from halkit.bench import EAGER_OVERHEAD_CASES, LayerCase, OverheadResults, eager_overhead, linear_latency
from halkit.bench.latency import profile_forward

QUICK = {"rounds": 3, "min_time": 1e-3}


@pytest.fixture(scope="module")
def overhead():
    return eager_overhead(**QUICK)


def test_the_three_issue_cases_with_their_targets(overhead):
    assert [(r["case"], r["target"]) for r in overhead] == [
        ("forward 1x64->64", 1.3), ("forward+backward 1x64->64", 1.3), ("forward 64x512->512", 1.05)]
    assert [c.label for c in EAGER_OVERHEAD_CASES] == [r["case"] for r in overhead]


def test_ratios_are_same_run_medians_and_verdicts_follow_them(overhead):
    for r in overhead:
        assert r["backend"] == hal.current_backend() and r["rounds"] == 3
        assert math.isfinite(r["time_ratio"]) and r["time_ratio"] == pytest.approx(r["halkit_s"] / r["torch_s"])
        assert r["halkit_spread"] >= 1.0 and r["torch_spread"] >= 1.0
        assert r["meets_target"] == (r["time_ratio"] <= r["target"])
    table = overhead.table()
    assert "time ratio" in table and "<=1.30" in table and "<=1.05" in table
    assert "# machine:" in table and "# machine load:" in table


def test_round_trip(overhead, tmp_path):
    json_path, csv_path = overhead.save(tmp_path, "overhead")
    assert list(OverheadResults.from_json(json_path)) == list(overhead)
    assert [r["meets_target"] for r in OverheadResults.from_csv(csv_path)] == [r["meets_target"] for r in overhead]


def test_any_backend_case_and_thread_counts(backend):
    rows = eager_overhead(cases=[LayerCase(3, 5, 7, "train step")], backend=backend, threads=[1, 2], **QUICK)
    assert [(r["backend"], r["threads"], r["target"], r["meets_target"]) for r in rows] == [
        (backend, 1, None, None), (backend, 2, None, None)]
    assert "[1, 2] (pinned" in rows.meta["threads"]


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        eager_overhead(cases=[LayerCase(1, 4, 4, "inference")], **QUICK)


def test_linear_latency_rows_per_backend():
    rows = linear_latency(8, 16, 16, backends=["numpy", "torch"], **QUICK)
    assert [r["backend"] for r in rows] == ["numpy", "torch"]
    assert all(math.isfinite(r["forward_vs_torch"]) and math.isfinite(r["step_vs_torch"]) for r in rows)
    torch_row = rows[1]
    assert torch_row["forward_vs_torch"] == 1.0 and torch_row["forward_significant"] is None
    assert "x torch" in rows.table() and "spread" in rows.table()


def test_profile_names_where_the_time_goes():
    # Every function (the forward is fast enough now to fall out of a short top list): the layer's own forward
    # is there, called once per call.
    text = profile_forward(calls=50, top=200)
    assert "tottime" in text
    assert any(line.split()[0] == "50" and line.endswith("(forward)") for line in text.splitlines() if line.strip())
