"""This machine's fp32 FMA ceiling, for the "% of peak" column and the dashboards' roofline line.

NumPy and torch cannot run a bare FMA loop, so the figure comes from a tiny
register-resident kernel in halkit._native (``_native.fma_peak``). It counts
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

from .cases import Case, operands, sampler


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


def fma_peak(threads: int = 1, seconds: float = 0.1, samples: int = 3) -> float:
    """This machine's fp32 FMA ceiling in GFLOP/s on ``threads`` threads: best of ``samples`` runs of ``seconds``.

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
    # A ceiling is the best of several samples: a single short one can land on a cold core
    # (seen here: 62 instead of 116 GFLOP/s for one 50 ms sample at 1 thread).
    return max(float(kernel(seconds, threads)) for _ in range(samples))


def measure_peak(threads: int, backends, dtype=np.float32, quick: bool = False) -> Peak:
    """The FMA peak at ``threads`` threads (the caller has pinned them); see the module docstring.

    Measured once per process for each set of arguments: the ceiling is a property of the
    machine, and the dashboards would otherwise pay for it on every slider move.
    """
    return _measure_peak(threads, tuple(backends), np.dtype(dtype), quick)


@functools.lru_cache(maxsize=None)
def _measure_peak(threads: int, backends: tuple[str, ...], dtype: np.dtype, quick: bool) -> Peak:
    if _native_fma_kernel() is not None and dtype == np.float32:
        return Peak(fma_peak(threads, 0.05 if quick else 0.1),
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
