"""The bfloat16 sweep: native vs torch (numpy left out, saying why), % of the native bf16 route's own ceiling."""
import contextlib
import json
import math

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
