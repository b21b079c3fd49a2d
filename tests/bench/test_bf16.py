"""The bfloat16 sweep: native vs torch (numpy left out, saying why), % of the native bf16 route's own ceiling."""
import contextlib
import json
import math
import re

import ml_dtypes
import numpy as np
import pytest

from halkit import hal
from halkit.bench import fma_peak, measure_peak, run
from halkit.bench.__main__ import main
from halkit.bench.cases import Case, _tensor, operands

needs_native = pytest.mark.skipif("native" not in hal.backends(), reason="native extension not built")


def _native():
    from halkit import _native

    return _native


def _has_bf16_route() -> bool:
    return "native" in hal.backends() and _native().info()["cpu_avx512_bf16"]


# A skip, not a pass: on a CPU without AVX512_BF16 the probe cannot run, and the summary (-ra) says so.
needs_avx512_bf16 = pytest.mark.skipif(not _has_bf16_route(), reason="this CPU lacks AVX512_BF16 (or the native "
                                       "extension is not built): the vdpbf16ps ceiling probe cannot run here")


@contextlib.contextmanager
def switched_bf16_route(name: str):
    """The native bf16 GEMM route switched to ``name`` within the block (in-process, like _use_isa)."""
    before = _native()._use_bf16(name)
    try:
        yield
    finally:
        _native()._use_bf16(before)


@needs_native
def test_cli_bfloat16_quick_runs_native_and_torch_without_numpy(tmp_path, capsys):
    assert main(["--dtype", "bfloat16", "--quick", "--threads", "1", "--repeats", "1", "--min-time", "0.0005",
                 "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "bench.json").read_text())
    rows, meta = data["rows"], data["meta"]
    assert {r["backend"] for r in rows} == {"native", "torch"}
    assert {r["dtype"] for r in rows} == {"bfloat16"}
    assert {r["op"] for r in rows} >= {"matmul", "linear", "linear_fused"}
    assert all(r["vs_torch"] is not None and r["vs_numpy"] is None for r in rows)  # torch is the reference
    assert "numpy skipped for bfloat16: NumPy has no bf16 GEMM" in out
    route = _native().info()["bf16_gemm"]
    assert f"# bf16_gemm: native route {route}" in out and meta["dtype"] == "bfloat16"
    expected = "vdpbf16ps" if route == "avx512_bf16" else "fp32 FMA"
    assert all(expected in peak["source"] for peak in meta["peaks"].values())


def test_numpy_alone_cannot_run_bfloat16_and_the_cli_says_why(capsys):
    assert main(["--dtype", "bfloat16", "--backends", "numpy", "--shapes", "8x8x8", "--threads", "1",
                 "--no-save", "--no-progress"]) == 2
    assert "numpy skipped for bfloat16: NumPy has no bf16 GEMM" in capsys.readouterr().err


@needs_native
def test_an_op_no_backend_takes_in_bfloat16_is_left_out_with_a_note():
    results = run(shapes=[(8, 8, 8)], ops=["matmul", "linear_unfused"], backends=["native", "torch"], threads=[1],
                  dtype="bfloat16", repeats=1, min_time=1e-4, quick=True, progress=False)
    assert {r["op"] for r in results} == {"matmul"}
    assert any(n.startswith("linear_unfused skipped on native for bfloat16") and "add_bias" in n
               for n in results.meta["notes"])


def test_bfloat16_operands_are_rounded_float32_draws_and_torch_shares_their_memory():
    case = Case("matmul", 3, 4, 5, "custom")
    a = operands(case, ml_dtypes.bfloat16)["a"]
    assert a.dtype == np.dtype(ml_dtypes.bfloat16)
    assert np.array_equal(a, operands(case, np.float32)["a"].astype(ml_dtypes.bfloat16))
    t = _tensor(a)
    assert str(t.dtype) == "torch.bfloat16" and t.data_ptr() == a.ctypes.data  # the same bits, no copy
    assert np.array_equal(t.float().numpy(), a.astype(np.float32))


@needs_avx512_bf16
def test_bf16_peak_probe_is_a_positive_finite_rate():
    with switched_bf16_route("avx512_bf16"):
        bf16 = fma_peak(threads=1, seconds=0.01, samples=1, kind="bf16")
    assert math.isfinite(bf16) and bf16 > 1.0  # GFLOP/s; no assertion on speed: the machine may be shared


@needs_native
def test_bf16_peak_probe_on_the_widened_route_is_a_clear_error():
    with switched_bf16_route("widened"), pytest.raises(ValueError, match=r"avx512_bf16.*'widened'.*kind='fp32'"):
        fma_peak(threads=1, seconds=0.01, samples=1, kind="bf16")


@needs_native
def test_peak_kind_must_be_fp32_or_bf16():
    with pytest.raises(ValueError, match="kind must be one of"):
        fma_peak(threads=1, seconds=0.01, samples=1, kind="int8")


@needs_native
def test_widened_route_is_measured_against_the_fp32_peak_and_says_so():
    with switched_bf16_route("widened"):
        peak = measure_peak(1, ["native", "torch"], ml_dtypes.bfloat16, quick=True)
    assert peak.source.startswith("measured: native fp32 FMA") and "'widened'" in peak.source


# --- a ceiling that is not the CPU's bf16 peak (AMX; a forced "widened" route): decided from injected flags ----

AMX = {"avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}


@pytest.mark.parametrize("route, flags, expected", [
    ("avx512_bf16", AMX, "AMX: amx_bf16 amx_tile"),                  # Intel with AMX: torch runs on tiles
    ("widened", AMX, "AMX: amx_bf16 amx_tile"),
    ("widened", {"avx2", "fma", "avx512f", "avx512_bf16"}, "'widened' (float32 FMAs) on a CPU with AVX512_BF16"),
    ("avx512_bf16", {"avx2", "fma", "avx512f", "avx512_bf16"}, None),  # this machine: the ceiling is the peak
    ("widened", {"avx2", "fma", "avx512f"}, None),                      # no bf16 instructions: fp32 is the peak
    ("widened", {"avx2", "fma"}, None),
    (None, AMX, None),  # no native extension: the peak is an estimate from the GEMMs themselves
])
def test_bf16_peak_caveat_from_injected_route_and_flags(route, flags, expected):
    from halkit.bench.peak import bf16_peak_caveat

    caveat = bf16_peak_caveat(route, flags)
    if expected is None:
        assert caveat is None
    else:
        assert expected in caveat and "%peak is left out ('-') for bfloat16 rows" in caveat
        assert "halkit has no AMX kernel" in caveat or "vdpbf16ps" in caveat


def test_without_a_machine_peak_rows_get_no_percentage_and_no_measurement_error():
    from halkit.bench import Peak
    from halkit.bench.runner import judge_peak

    rows = [{"gflops": 900.0}, {"gflops": 50.0}]
    judge_peak(rows, Peak(100.0, "measured: vdpbf16ps"))
    assert [(r["pct_peak"], r["over_peak"]) for r in rows] == [(900.0, True), (50.0, False)]
    judge_peak(rows, None)  # AMX: torch's 900 GFLOP/s is no error, it ran on hardware halkit does not measure
    assert [(r["pct_peak"], r["over_peak"]) for r in rows] == [(None, False), (None, False)]


def test_table_prints_dash_the_note_and_the_ceiling_as_the_routes_own():
    from halkit.bench import Results
    from halkit.bench.peak import bf16_peak_caveat

    caveat = bf16_peak_caveat("avx512_bf16", AMX)
    row = {"op": "matmul", "group": "custom", "m": 256, "n": 256, "k": 256, "backend": "torch", "threads": 1,
           "dtype": "bfloat16", "median_s": 1e-4, "min_s": 1e-4, "max_s": 1e-4, "q1_s": 1e-4, "q3_s": 1e-4,
           "rounds": 1, "calls_per_sample": 1, "noisy": False, "gflops": 335.5, "pct_peak": None,
           "over_peak": False, "vs_numpy": None, "vs_numpy_significant": None, "vs_torch": 1.0,
           "vs_torch_significant": None}
    meta = {"dtype": "bfloat16", "notes": [caveat], "peaks": {},
            "ceilings": {"1": {"gflops": 120.0, "source": "measured: native AVX512_BF16 dot-product"}}}
    table = Results([row], meta).table()
    line, = [t for t in table.splitlines() if t.startswith("matmul")]
    assert re.search(r" 335\.50 +- ", line) and "!" not in line  # GFLOP/s, then %peak: "-"
    assert f"# note: {caveat}" in table and "MEASUREMENT ERROR" not in table
    assert "# native route's ceiling at 1 thread(s): 120.0 GFLOP/s" in table and "# peak at" not in table


@needs_native
def test_bf16_sweep_on_an_amx_cpu_leaves_peak_out(monkeypatch):
    from halkit.bench import machine

    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset(AMX))  # no real AMX here
    results = run(shapes=[(16, 16, 16)], backends=["native", "torch"], threads=[1], dtype="bfloat16", repeats=1,
                  min_time=1e-4, quick=True, progress=False)
    assert all(r["pct_peak"] is None and not r["over_peak"] for r in results)
    assert results.meta["peaks"] == {} and set(results.meta["ceilings"]) == {"1"}
    assert any("AMX: amx_bf16 amx_tile" in n for n in results.meta["notes"])
    assert "%peak left out" in results.meta["bf16_gemm"]


@needs_avx512_bf16
def test_forced_widened_route_on_this_avx512_bf16_cpu_leaves_peak_out():
    with switched_bf16_route("widened"):
        results = run(shapes=[(16, 16, 16)], backends=["native", "torch"], threads=[1], dtype="bfloat16",
                      repeats=1, min_time=1e-4, quick=True, progress=False)
    assert all(r["pct_peak"] is None and not r["over_peak"] for r in results)
    assert "fp32 FMA" in results.meta["ceilings"]["1"]["source"]
    assert any("'widened' (float32 FMAs) on a CPU with AVX512_BF16" in n for n in results.meta["notes"])
