"""Interleaved timing: the one timing loop of halkit, and the only fair way to compare on a machine whose speed drifts.

This VM's vCPUs can share a physical core, so throughput swings up to 2x from
one moment to the next. Timing candidate A for a minute and then B compares
two different machines. Instead each round times every candidate once, back
to back (A, B, C, A, B, C, ...), each sample long enough (>= min_time) to
average out scheduler jitter, and a candidate's figure is the median over rounds.

Every sample ends by waiting for the device (``hal.synchronize()``) inside the
timed region: a device op returns when it is queued, not when it is done, and a
timer that stops at the host call measures the queue. For host drivers the
wait is a no-op.
"""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

from halkit import hal

#: A sampler runs its operation ``n`` times and returns the elapsed seconds.
Sampler = Callable[[int], float]

#: Rounds whose interquartile range is wider than this fraction of the median are flagged noisy.
NOISY_IQR = 0.10
#: ... and so are rounds whose slowest is this many times the fastest.
NOISY_SPREAD = 1.5
#: Fewer rounds than this cannot tell a difference from noise: such ratios are never called significant.
MIN_ROUNDS_FOR_SIGNIFICANCE = 3


@dataclass(frozen=True)
class Timing:
    """Per-call seconds of one candidate over the rounds of one interleaved measurement."""

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

    @property
    def quartiles(self) -> tuple[float, float]:
        """(first, third) quartile of the rounds: the interquartile range, robust to one disturbed round."""
        if len(self.samples) < 2:
            return self.samples[0], self.samples[0]
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q1, q3

    @property
    def spread(self) -> float:
        """Slowest round / fastest round (1.0 = every round agreed)."""
        return self.max / self.min if self.min > 0 else math.inf

    @property
    def noisy(self) -> bool:
        """The rounds disagree: the figure moved while it was measured (another job, a frequency change)."""
        q1, q3 = self.quartiles
        return (q3 - q1) > NOISY_IQR * self.median or self.spread > NOISY_SPREAD

    def differs_from(self, other: "Timing") -> bool:
        """True when the two interquartile ranges do not overlap, i.e. the difference exceeds the round-to-round
        noise; False when they overlap or either has fewer than MIN_ROUNDS_FOR_SIGNIFICANCE rounds."""
        if min(len(self.samples), len(other.samples)) < MIN_ROUNDS_FOR_SIGNIFICANCE:
            return False
        (a1, a3), (b1, b3) = self.quartiles, other.quartiles
        return a3 < b1 or b3 < a1


def loop_sampler(fn: Callable[[], object], context: Callable[[], contextlib.AbstractContextManager] | None = None,
                 device=None) -> Sampler:
    """A sampler that calls ``fn()`` n times in a plain loop and waits for the device before stopping the clock.

    ``context`` (a zero-argument factory, e.g. ``lambda: hal.use("mock")`` or ``torch.inference_mode``) is
    entered around each sample, outside the timed region, so selecting a backend is not timed per call.
    ``device`` (a driver or its name) is the one waited for; default: the current driver inside ``context``.
    """
    enter = context or contextlib.nullcontext

    def sample(n: int) -> float:
        with enter():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            hal.synchronize(device)
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
