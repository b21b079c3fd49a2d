"""halkit.bench — the benchmark harness behind ``python -m halkit.bench`` and the dashboards.

* ``run(...) -> Results``: ops x shapes x backends (HAL backends + torch) x threads,
  each figure the median of interleaved rounds, with GFLOP/s, % of this machine's
  FMA peak and speed-ups over numpy and torch from the same run;
* ``run_models(...) -> ModelResults``: ResNet-18 and a BERT encoder through eager torch,
  ``halkit.convert``, ``torch.compile(backend="halkit")`` and inductor, forward and a training step
  (``autocast="bfloat16"``: all under CPU autocast, checked against eager under autocast);
* ``eager_overhead()``: HALLinear vs nn.Linear per call; ``linear_latency()``: the seed's
  HALLinear 64x512->512 forward / train-step latency per backend;
* ``compare({name: fn})``: the same interleaved timing for any callables;
  ``forward_step`` / ``backward_step`` / ``training_step`` build such callables from a model;
* ``fma_peak(threads)``: this machine's measured fp32 FMA ceiling in GFLOP/s (``kind="bf16"``: the
  AVX512_BF16 dot-product ceiling, the native avx512_bf16 GEMM route's);
* ``pinned_threads(n)``: every thread pool at n threads within a block.

Every timing comes from the one loop in ``timing.py`` (interleaved rounds, device synchronized).
"""
from __future__ import annotations

from .cases import MLP_SHAPES, OPS, Case, sweep
from .latency import EAGER_OVERHEAD_CASES, LatencyResults, LayerCase, OverheadResults, eager_overhead, linear_latency
from .load import LoadMonitor
from .models import ModelResults, run_models
from .peak import Peak, fma_peak, measure_peak
from .results import COLUMNS, Results
from .routes import ROUTES
from .runner import DEFAULT_BACKENDS, UnknownBackendError, default_threads, resolve_backends, run
from .steps import backward_step, forward_step, training_step
from .threads import pinned_threads
from .timing import Timing, interleaved, loop_sampler
from .workloads import workloads


def compare(callables: dict, rounds: int = 9, min_time: float = 0.1) -> dict[str, Timing]:
    """Interleaved timing of plain callables: {name: Timing} with per-call seconds (``.median``, ``.spread``,
    ``.differs_from(other)``)."""
    return interleaved({name: loop_sampler(fn) for name, fn in callables.items()}, rounds, min_time)


__all__ = [
    "COLUMNS", "Case", "DEFAULT_BACKENDS", "EAGER_OVERHEAD_CASES", "LatencyResults", "LayerCase", "LoadMonitor",
    "MLP_SHAPES", "ModelResults", "OPS", "OverheadResults", "Peak", "ROUTES", "Results", "Timing",
    "UnknownBackendError", "backward_step", "compare", "default_threads", "eager_overhead", "fma_peak",
    "forward_step", "interleaved", "linear_latency", "loop_sampler", "measure_peak", "pinned_threads",
    "resolve_backends", "run", "run_models", "sweep", "training_step", "workloads",
]
