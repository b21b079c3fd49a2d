"""This machine's fp32 FMA ceiling, for the "% of peak" column and the dashboards' roofline line.

NumPy and torch cannot run a bare FMA loop, so the figure comes from a tiny
register-resident kernel in halkit._native (``_native.fma_peak``). For bfloat16
it is the AVX512_BF16 dot-product (vdpbf16ps) loop when the native bf16 GEMM
runs on those instructions (route "avx512_bf16"), and the fp32 FMA loop when it
widens the operands to float32 (route "widened"): each route's own ceiling, which is no peak of a CPU
whose bf16 hardware torch reaches and that route does not (AMX; AVX512_BF16 under a forced "widened"
route): :func:`bf16_peak_caveat` says when, and the sweep then leaves % of peak out. It counts
flops per thread-CPU-second, i.e. the ceiling of the cores when nobody else
uses them: on a shared machine the wall-clock GEMM rates sit further below it.
Without the native extension the peak is ESTIMATED as the best GFLOP/s of a
large GEMM over every backend: a lower bound of the real ceiling, labelled as
such wherever it is shown.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .cases import BFLOAT16, Case, operands, sampler

#: fma_peak's kinds: the fp32 FMA loop, or the AVX512_BF16 dot-product loop (the avx512_bf16 route's ceiling).
KINDS = ("fp32", "bf16")


@dataclass(frozen=True)
class Peak:
    gflops: float
    source: str  # how it was obtained: shown next to every figure derived from it


def _native_fma_kernel():
    try:
        from halkit import _native
    except ImportError:
        return None
    return getattr(_native, "fma_peak", None)


def bf16_route() -> str | None:
    """The native bf16 GEMM route: "avx512_bf16" (vdpbf16ps), "widened" (float32 FMAs), None when not built."""
    try:
        from halkit import _native
    except ImportError:
        return None
    return _native.info().get("bf16_gemm")


#: /proc/cpuinfo flags of a matrix engine that multiplies bfloat16 faster than AVX512_BF16 dot products (Intel AMX).
MATRIX_ENGINE_FLAGS = ("amx_bf16", "amx_tile")


def bf16_peak_caveat(route: str | None, flags) -> str | None:
    """Why the native bf16 route's measured ceiling is NOT this CPU's bfloat16 peak, or None when it is.

    ``route``: the native bf16 GEMM route (:func:`bf16_route`); ``flags``: the CPU's ISA flags
    (:func:`halkit.bench.machine.cpu_flags`). Torch's bf16 GEMM uses the fastest bf16 hardware the CPU has, so
    it can run above a ceiling that is not the CPU's, which the sweep would flag as a measurement error:

    * a CPU with AMX (``amx_bf16``/``amx_tile``): torch's GEMMs run on its tiles, faster than the vdpbf16ps
      ceiling, and halkit has no AMX kernel;
    * route "widened" on a CPU with AVX512_BF16 (the route forced): the ceiling is the fp32 FMA one, while
      torch's GEMMs use the bf16 dot-product instructions.

    None without the native extension (route None): the peak is then an estimate from the GEMMs themselves.
    """
    flags = frozenset(flags)
    if route is None:
        return None
    engine = [f for f in MATRIX_ENGINE_FLAGS if f in flags]
    if engine:
        return (f"this CPU has a matrix engine (AMX: {' '.join(engine)}): torch's bfloat16 GEMMs run on its tiles, "
                f"faster than the measured {_CEILINGS.get(route, 'native')} ceiling, and halkit has no AMX kernel "
                "yet, so that ceiling is not this CPU's bf16 peak: %peak is left out ('-') for bfloat16 rows (the "
                "ceiling is shown as the native route's own)")
    if route == "widened" and "avx512_bf16" in flags:
        return ("the native bf16 route is 'widened' (float32 FMAs) on a CPU with AVX512_BF16: torch's bfloat16 "
                "GEMMs use the bf16 dot-product instructions (vdpbf16ps), faster than the fp32 FMA ceiling this "
                "route is measured against, so that ceiling is not this CPU's bf16 peak: %peak is left out ('-') "
                "for bfloat16 rows (the ceiling is shown as the native route's own)")
    return None


_CEILINGS = {"avx512_bf16": "AVX512_BF16 (vdpbf16ps)", "widened": "fp32 FMA"}


def fma_peak(threads: int = 1, seconds: float = 0.1, samples: int = 3, kind: str = "fp32") -> float:
    """This machine's fp32 FMA ceiling in GFLOP/s on ``threads`` threads: best of ``samples`` runs of ``seconds``.

    kind="bf16": the AVX512_BF16 dot-product ceiling instead; a ValueError saying why when the native bf16
    route is not "avx512_bf16" (the "widened" route computes in fp32: its ceiling is kind="fp32").
    Raises RuntimeError (saying how to build it) when the native extension is not built.
    """
    kernel = _native_fma_kernel()
    if kernel is None:
        raise RuntimeError("the FMA peak is measured by the native extension, which is not built: "
                           "run `python -m halkit.build` (or `halkit.build()` in a notebook)")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    if not seconds > 0 or isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"seconds must be > 0 and samples a positive int, got {seconds!r}, {samples!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    # A ceiling is the best of several samples: a single short one can land on a cold core
    # (seen here: 62 instead of 116 GFLOP/s for one 50 ms sample at 1 thread).
    return max(float(kernel(seconds, threads, kind=kind)) for _ in range(samples))


def measure_peak(threads: int, backends, dtype=np.float32, quick: bool = False) -> Peak:
    """The FMA peak at ``threads`` threads (the caller has pinned them); see the module docstring.

    Measured once per process for each set of arguments: the ceiling is a property of the
    machine, and the dashboards would otherwise pay for it on every slider move.
    """
    dtype = np.dtype(dtype)
    # The bf16 route is part of the key: tests switch it in-process, and each route has its own ceiling.
    return _measure_peak(threads, tuple(backends), dtype, quick, bf16_route() if dtype == BFLOAT16 else None)


@functools.lru_cache(maxsize=None)
def _measure_peak(threads: int, backends: tuple[str, ...], dtype: np.dtype, quick: bool, route: str | None) -> Peak:
    seconds, native = (0.05 if quick else 0.1), _native_fma_kernel() is not None
    if native and dtype == BFLOAT16 and route == "avx512_bf16":
        return Peak(fma_peak(threads, seconds, kind="bf16"),
                    "measured: native AVX512_BF16 dot-product (vdpbf16ps) micro-kernel, best of 3, flops per "
                    "thread-CPU-second")
    if native and dtype == BFLOAT16:  # the widened route: its arithmetic is fp32 FMAs
        return Peak(fma_peak(threads, seconds),
                    f"measured: native fp32 FMA micro-kernel, best of 3, flops per thread-CPU-second; fp32 because "
                    f"the native bf16 route is {route!r}: it widens the operands to float32 and computes in fp32")
    if native and dtype == np.float32:
        return Peak(fma_peak(threads, seconds),
                    "measured: native FMA micro-kernel, best of 3, flops per thread-CPU-second")
    size = 512 if quick else 1536
    case = Case("matmul", size, size, size, "peak")
    arrays = operands(case, dtype)
    best = 0.0
    for backend in backends:
        sample = sampler(case, backend, arrays)
        sample(1)  # warm-up: packing buffers, thread start
        best = max(best, max(case.flops / sample(1) for _ in range(2 if quick else 4)) / 1e9)
    return Peak(best, f"estimate: best {size}^3 GEMM over {', '.join(backends)} (a lower bound of the FMA peak)")
