"""``run()``: the sweep behind ``python -m halkit.bench``, the notebooks and the dashboards."""
from __future__ import annotations

import time

import numpy as np
import torch

from halkit import hal

from . import idle_threads, machine
from .cases import BFLOAT16, HAL_OPS, OPS, TORCH, Case, hal_gaps, operands, sampler, sweep
from .load import LoadMonitor
from .peak import Peak, bf16_peak_caveat, bf16_route, measure_peak
from .results import Results, speedup, timing_fields
from .threads import blas_description, pinned_threads
from .timing import interleaved

DEFAULT_BACKENDS = ("numpy", "native", TORCH)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64), BFLOAT16)

NUMPY_BF16 = ("numpy skipped for bfloat16: NumPy has no bf16 GEMM (a @ b on ml_dtypes.bfloat16 arrays runs "
              "element loops, not BLAS) and halkit's numpy backend, the reference, widens to float32 for the "
              "fp32 BLAS and rounds back: neither times a bf16 GEMM, so bfloat16 speed-ups are against torch")


class UnknownBackendError(ValueError):
    """A backend name that is neither a HAL backend nor "torch"."""


def resolve_backends(requested=None) -> tuple[list[str], list[str]]:
    """(backends to run, notes about skipped ones). Unknown names raise; known-but-unavailable ones are skipped."""
    requested = list(DEFAULT_BACKENDS if requested is None else requested)
    available = hal.backends()
    unavailable = hal.unavailable_backends()
    chosen, notes = [], []
    for name in requested:
        if name == TORCH or name in available:
            if name not in chosen:
                chosen.append(name)
        elif name in unavailable:
            notes.append(f"{name} skipped: {unavailable[name]}")
        else:
            raise UnknownBackendError(
                f"unknown backend {name!r}: available here are {available + [TORCH]}"
                + (f" (known but not loadable: {sorted(unavailable)})" if unavailable else "")
            )
    if not chosen:
        raise UnknownBackendError(f"none of {requested} can run here: " + "; ".join(notes))
    return chosen, notes


def default_threads(quick: bool = False) -> list[int]:
    """1 thread and every usable core (just the cores with quick=True)."""
    cores = hal.usable_cores()
    return [cores] if quick else sorted({1, cores})


def run(shapes=None, backends=None, threads=None, dtype="float32", repeats: int | None = None,
        min_time: float | None = None, ops=None, quick: bool = False, cases: list[Case] | None = None,
        progress: bool = True) -> Results:
    """Benchmark ops x shapes x backends x thread counts; returns :class:`Results`.

    shapes: (M, N, K) tuples run through each of ``ops`` (default matmul); None = the standard
    sweep (square 64..2048, skinny M=1/8/32 x 1024^2, the MLP layers, linear fused/unfused, 1x1 overhead).
    backends: HAL backend names and/or "torch"; default numpy, native (skipped with a note if not
    built), torch. repeats: interleaved rounds (default 9; 3 with quick). min_time: seconds per
    sample (default 0.1; 0.01 with quick). quick: a small sweep for CI and smoke tests.
    dtype: float32, float64 or bfloat16 (ml_dtypes; numpy is left out, with a note saying why, and
    the % of peak is the native bf16 route's ceiling).
    """
    dtype = _dtype(dtype)
    rounds = repeats if repeats is not None else (3 if quick else 9)
    min_time = min_time if min_time is not None else (0.01 if quick else 0.1)
    threads = list(threads) if threads is not None else default_threads(quick)
    names, notes = resolve_backends(backends)
    names, dtype_notes = _dtype_backends(names, dtype)
    notes += dtype_notes
    if idle_threads.missing() and max(threads) > 1:
        notes.append("idle BLAS/OpenMP threads spin into the next backend's time slot: multi-thread ratios are "
                     "distorted; " + idle_threads.advice())
    cases = cases if cases is not None else _cases(shapes, ops, quick)
    runs, case_notes = _case_backends(cases, names, dtype)
    notes += case_notes
    if quick:
        notes.append("--quick: fewer rounds and shorter samples than the measurement rule "
                     "(>= 9 rounds of >= 0.1 s): a smoke test, not a measurement")

    # numpy's bf16 GEMM is no estimate of a bf16 ceiling (see NUMPY_BF16)
    estimators = ("native", TORCH) if dtype == BFLOAT16 else ("native", "numpy", TORCH)
    peak_backends = [b for b in estimators if b == TORCH or b in hal.backends()]
    # On a CPU whose bf16 hardware outruns the native route's ceiling (AMX, or a forced "widened" route) that
    # ceiling is no peak of the machine: it is kept apart (meta "ceilings") and %peak is left out.
    caveat = bf16_peak_caveat(bf16_route(), machine.cpu_flags()) if dtype == BFLOAT16 else None
    if caveat:
        notes.append(caveat)
    rows, peaks, ceilings, load = [], {}, {}, LoadMonitor()
    tasks = [(t, case) for t in threads for case, _ in runs]
    bar = _progress(len(tasks) + len(threads), enabled=progress)
    for t in threads:
        with pinned_threads(t):
            peak = measure_peak(t, peak_backends, dtype, quick)
            bar.update(1)
            measured = []
            for case, case_backends in runs:
                bar.set_postfix_str(f"{case.op} {case.shape} x{t}")
                with load.track():
                    measured += _measure(case, case_backends, t, dtype, rounds, min_time)
                bar.update(1)
            peak = _at_least_observed(peak, measured)
            (ceilings if caveat else peaks)[str(t)] = {"gflops": peak.gflops, "source": peak.source}
            judge_peak(measured, None if caveat else peak)
            rows += measured
    bar.close()
    over = [r for r in rows if r["over_peak"]]
    if over:
        notes.insert(0, f"MEASUREMENT ERROR: {len(over)} figure(s) above 100 % of the measured peak (marked !): "
                        "physics forbids them, so some pool ran more threads than stated or the peak sample ran "
                        "on a disturbed core; do not use them, re-run")
    meta = _meta(names, threads, dtype, rounds, min_time, peaks, notes, caveat)
    if ceilings:
        meta["ceilings"] = ceilings
    meta["load"] = load.summary()
    return Results(rows, meta)


def judge_peak(rows: list[dict], peak: Peak | None) -> None:
    """Fill each row's pct_peak (% of ``peak``) and over_peak (above 100 %: a measurement error); both left out
    (None, False) when ``peak`` is None: no ceiling that this machine's hardware is known not to exceed."""
    for row in rows:
        row["pct_peak"] = 100 * row["gflops"] / peak.gflops if peak is not None and peak.gflops else None
        row["over_peak"] = row["pct_peak"] is not None and row["pct_peak"] > 100


def _dtype(dtype) -> np.dtype:
    """float32, float64 or bfloat16 as a NumPy dtype, from a name or a type; anything else is a ValueError."""
    try:
        dtype = np.dtype(dtype)  # "bfloat16" resolves: cases imports ml_dtypes, which registers it
    except TypeError:
        raise ValueError(f"dtype must be one of {[d.name for d in DTYPES]}, got {dtype!r}") from None
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {[d.name for d in DTYPES]}, got {dtype}")
    return dtype


def _dtype_backends(names: list[str], dtype: np.dtype) -> tuple[list[str], list[str]]:
    """(the backends that run GEMMs in ``dtype``, a note for each one left out); none left is an error."""
    chosen, notes = [], []
    for name in names:
        if name == "numpy" and dtype == BFLOAT16:
            notes.append(NUMPY_BF16)
        elif name != TORCH and hal_gaps(hal.get_backend(name).capabilities(), "matmul", dtype):
            notes.append(f"{name} skipped for {dtype}: its capabilities do not take {dtype} GEMMs")
        else:
            chosen.append(name)
    if not chosen:
        raise UnknownBackendError(f"none of {names} runs {dtype} GEMMs here: " + "; ".join(notes)
                                  + "; add torch or native to --backends")
    return chosen, notes


def _case_backends(cases, names, dtype) -> tuple[list[tuple[Case, list[str]]], list[str]]:
    """Each case with the backends that run it in ``dtype`` (from their capabilities), and notes on the gaps.

    A case that no requested HAL backend runs is dropped: a torch-only row compares nothing.
    """
    capabilities = {b: hal.get_backend(b).capabilities() for b in names if b != TORCH}
    runs, notes = [], []
    for case in cases:
        gaps = {b: hal_gaps(c, case.op, dtype) for b, c in capabilities.items()}
        for b, lacking in gaps.items():
            note = f"{case.op} skipped on {b} for {dtype}: it calls {', '.join(HAL_OPS[case.op])}, and {b}'s " \
                   f"capabilities do not take {dtype} for {', '.join(lacking)}"
            if lacking and note not in notes:
                notes.append(note)
        backends = [b for b in names if not gaps.get(b)]
        if backends != [TORCH] or not capabilities:
            runs.append((case, backends))
    if cases and not runs:
        raise UnknownBackendError(f"none of the ops {sorted({c.op for c in cases})} runs in {dtype} on {names}: "
                                  + "; ".join(notes) + "; choose other ops or backends")
    return runs, notes


def _cases(shapes, ops, quick) -> list[Case]:
    if shapes is None:
        return sweep(quick, ops) if ops is not None else sweep(quick)
    ops = tuple(ops or ("matmul",))
    unknown = set(ops) - set(OPS)
    if unknown:
        raise ValueError(f"unknown op(s) {sorted(unknown)}: choose from {list(OPS)}")
    cases = []
    for shape in shapes:
        m, n, k = (int(v) for v in shape)
        if min(m, n, k) < 1:
            raise ValueError(f"shape (M, N, K) must be positive, got {tuple(shape)}")
        cases += [Case(op, m, n, k, "custom") for op in ops if op != "overhead"]
    if "overhead" in ops:
        cases.append(Case("overhead", 1, 1, 1, "overhead"))
    return cases


def _at_least_observed(peak: Peak, rows: list[dict]) -> Peak:
    """An ESTIMATED peak is a lower bound: if a GEMM in this run went faster, that rate is the better bound."""
    best = max((r["gflops"] for r in rows if r["op"] != "overhead"), default=0.0)
    if peak.source.startswith("estimate") and best > peak.gflops:
        return Peak(best, peak.source + ", raised to the best GEMM rate of this run")
    return peak


def _measure(case: Case, backends, threads, dtype, rounds, min_time) -> list[dict]:
    arrays = operands(case, dtype)
    timings = interleaved({b: sampler(case, b, arrays) for b in backends}, rounds=rounds, min_time=min_time)
    rows = []
    for backend, t in timings.items():
        vs_numpy, numpy_significant = speedup(timings.get("numpy"), t)
        vs_torch, torch_significant = speedup(timings.get(TORCH), t)
        rows.append({
            "op": case.op, "group": case.group, "m": case.m, "n": case.n, "k": case.k,
            "backend": backend, "threads": threads, "dtype": str(dtype), **timing_fields(t),
            "gflops": case.flops / t.median / 1e9,
            "pct_peak": None, "over_peak": False,  # filled in once the run's peak is known
            "vs_numpy": vs_numpy, "vs_numpy_significant": numpy_significant,
            "vs_torch": vs_torch, "vs_torch_significant": torch_significant,
        })
    return rows


def _meta(backends, threads, dtype, rounds, min_time, peaks, notes, caveat=None) -> dict:
    meta = {
        "machine": machine.describe(),
        "blas": f"numpy {np.__version__} on {blas_description()}",
        "numpy_backend": "numpy = halkit.hal's numpy backend (a @ b on the BLAS above) through the op API, "
                         "validation included",
        "torch_backend": f"torch = torch {torch.__version__} torch.matmul / F.linear, inference_mode, "
                         "tensors sharing the NumPy arrays",
        "backends": backends,
        "threads": f"{threads} (pinned for all three: hal.set_num_threads, threadpoolctl, torch.set_num_threads)",
        "dtype": str(dtype),
        "timing": f"median of {rounds} interleaved rounds ({', '.join(backends)}, ...), "
                  f"each sample >= {min_time} s after warm-up",
        "peaks": peaks,
        "idle_threads": idle_threads.describe(),
        "notes": notes,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if "native" in backends:
        info = hal.get_backend("native").info()
        meta["native"] = f"isa {info.get('isa')}, {info.get('compiler')}, {info.get('threading')}"
    if dtype == BFLOAT16:
        meta["bf16_gemm"] = _bf16_description(bf16_route(), caveat)
        meta["torch_backend"] += "; bfloat16: torch.bfloat16 views of the same bits (torch's own bf16 GEMM)"
    return meta


def _bf16_description(route: str | None, caveat: str | None = None) -> str:
    """How the native backend multiplies bfloat16, and which ceiling the %peak column divides by."""
    if caveat and route == "avx512_bf16":
        return ("native route avx512_bf16: AVX512_BF16 dot products (vdpbf16ps), float32 sums, rounded once; "
                "%peak left out: this CPU's bf16 hardware is faster than the vdpbf16ps ceiling (see note)")
    if caveat and route == "widened":
        return ("native route widened: operands widened to float32, fp32 FMAs, rounded once; %peak left out: this "
                "CPU's bf16 hardware is faster than the fp32 FMA ceiling (see note)")
    if route == "avx512_bf16":
        return ("native route avx512_bf16: AVX512_BF16 dot products (vdpbf16ps), float32 sums, rounded once; "
                "%peak = the vdpbf16ps ceiling")
    if route == "widened":
        return ("native route widened: operands widened to float32, fp32 FMAs, rounded once; %peak = the fp32 "
                "FMA ceiling, since that is the arithmetic this route does")
    return "native extension not built: no native bf16 route; %peak = an estimate from torch's bf16 GEMM"


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="halkit.bench", unit="case", disable=not enabled, leave=False)
