"""Rows, ratios and serialisation of a real (tiny) run. Timings are never asserted on."""
import math

from halkit import hal
from halkit.bench import COLUMNS, Results


def test_one_row_per_case_backend_and_thread_count(small_results):
    backends = [b for b in ("numpy", "native", "torch") if b == "torch" or b in hal.backends()]
    cases = {(r["op"], r["m"], r["n"], r["k"]) for r in small_results}
    assert cases == {("matmul", 8, 16, 32), ("linear_fused", 8, 16, 32), ("matmul", 4, 4, 4),
                     ("linear_fused", 4, 4, 4), ("overhead", 1, 1, 1)}
    assert len(small_results) == len(cases) * len(backends)
    assert all(set(COLUMNS) <= set(r) for r in small_results)
    assert all(r["threads"] == 1 and r["rounds"] == 3 and r["dtype"] == "float32" for r in small_results)


def test_ratios_come_from_same_run_medians(small_results):
    for row in small_results:
        same_case = small_results.select(op=row["op"], m=row["m"], n=row["n"], k=row["k"], threads=row["threads"])
        numpy_row, = same_case.select(backend="numpy")
        torch_row, = same_case.select(backend="torch")
        assert math.isclose(row["vs_numpy"], numpy_row["median_s"] / row["median_s"])
        assert math.isclose(row["vs_torch"], torch_row["median_s"] / row["median_s"])
        assert math.isclose(row["gflops"], 2 * row["m"] * row["n"] * row["k"] / row["median_s"] / 1e9)
        assert row["min_s"] <= row["median_s"] <= row["max_s"]
    assert all(r["vs_numpy"] == 1.0 for r in small_results.select(backend="numpy"))


def test_metadata_states_machine_threads_and_peak(small_results):
    meta = small_results.meta
    assert "1" in meta["peaks"] and meta["peaks"]["1"]["gflops"] > 0 and meta["peaks"]["1"]["source"]
    assert "pinned" in meta["threads"] and "interleaved" in meta["timing"]
    table = small_results.table()
    for text in ("machine", "peak at 1 thread(s)", "x numpy", "overhead", "linear_fused"):
        assert text in table


def test_json_round_trip(small_results, tmp_path):
    path = tmp_path / "bench.json"
    small_results.to_json(path)
    back = Results.from_json(path)
    assert list(back) == list(small_results) and back.meta == small_results.meta
    assert list(Results.from_json(small_results.to_json())) == list(small_results)


def test_csv_round_trip(small_results, tmp_path):
    path = tmp_path / "bench.csv"
    text = small_results.to_csv(path)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    back = Results.from_csv(path)
    assert len(back) == len(small_results)
    for got, want in zip(back, small_results):
        for key in COLUMNS:
            if isinstance(want[key], float):
                assert math.isclose(got[key], want[key])
            else:
                assert got[key] == want[key]
