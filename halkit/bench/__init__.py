"""halkit.bench — the benchmark harness behind ``python -m halkit.bench`` and the dashboards.

* ``run(...) -> Results``: ops x shapes x backends (HAL backends + torch) x threads,
  each figure the median of interleaved rounds, with GFLOP/s, % of this machine's
  FMA peak and speed-ups over numpy and torch from the same run;
* ``linear_latency()``: the seed's HALLinear 64x512->512 forward / train-step latency per backend;
* ``compare({name: fn})``: the same interleaved timing for any callables
  (e.g. a HALLinear forward vs an nn.Linear forward);
* ``Results``: rows + metadata, ``.table()``, ``.to_csv()``, ``.to_json()``.
"""
from __future__ import annotations

from .cases import MLP_SHAPES, OPS, Case, sweep
from .latency import LatencyResults, linear_latency
from .peak import Peak, measure_peak
from .results import COLUMNS, Results
from .runner import DEFAULT_BACKENDS, UnknownBackendError, default_threads, resolve_backends, run
from .threads import pinned_threads
from .timing import Timing, interleaved, loop_sampler


def compare(callables: dict, rounds: int = 9, min_time: float = 0.1) -> dict[str, Timing]:
    """Interleaved timing of plain callables: {name: Timing} with per-call seconds (``.median``)."""
    return interleaved({name: loop_sampler(fn) for name, fn in callables.items()}, rounds, min_time)


__all__ = [
    "COLUMNS", "Case", "DEFAULT_BACKENDS", "LatencyResults", "MLP_SHAPES", "OPS", "Peak", "Results", "Timing",
    "UnknownBackendError", "compare", "default_threads", "interleaved", "linear_latency", "loop_sampler",
    "measure_peak",
    "pinned_threads", "resolve_backends", "run", "sweep",
]
