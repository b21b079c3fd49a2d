"""Interleaved timing: the only fair way to compare backends on a machine whose speed drifts.

This VM's vCPUs can share a physical core, so throughput swings up to 2x from
one moment to the next. Timing backend A for a minute and then backend B
compares two different machines. Instead each round times every backend once,
back to back (A, B, C, A, B, C, ...), each sample long enough (>= min_time) to
average out scheduler jitter, and a backend's figure is the median over rounds.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

#: A sampler runs its operation ``n`` times and returns the elapsed seconds.
Sampler = Callable[[int], float]


@dataclass(frozen=True)
class Timing:
    """Per-call seconds of one backend over the rounds of one interleaved measurement."""

    samples: tuple[float, ...]  # one per round, seconds per call
    calls_per_sample: int

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


def loop_sampler(fn: Callable[[], object]) -> Sampler:
    """A sampler that calls ``fn()`` n times in a plain loop."""

    def sample(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - start

    return sample


def calls_for(sampler: Sampler, min_time: float, warmup: float) -> int:
    """Warm ``sampler`` up for about ``warmup`` seconds, then pick how many calls make a sample of >= min_time."""
    n, elapsed = 1, sampler(1)  # the first call pays one-off costs (allocation, packing, thread start)
    spent = elapsed
    while spent < warmup or elapsed <= 0:
        n = min(n * 2, 1 << 24)
        elapsed = sampler(n)
        spent += elapsed
    per_call = max(elapsed / n, 1e-9)
    return max(1, math.ceil(min_time / per_call))


def interleaved(samplers: dict[str, Sampler], rounds: int = 9, min_time: float = 0.1,
                warmup: float | None = None) -> dict[str, Timing]:
    """Time every sampler once per round, in the same order each round; return each one's per-call times."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    if not min_time > 0:
        raise ValueError(f"min_time must be > 0 seconds, got {min_time!r}")
    warmup = min_time if warmup is None else warmup
    calls = {name: calls_for(s, min_time, warmup) for name, s in samplers.items()}
    samples: dict[str, list[float]] = {name: [] for name in samplers}
    for _ in range(rounds):
        for name, sampler in samplers.items():
            samples[name].append(sampler(calls[name]) / calls[name])
    return {name: Timing(tuple(samples[name]), calls[name]) for name in samplers}
