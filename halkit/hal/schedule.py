"""THE scheduler of modelled time: the engines a command occupies (compute, and one copy engine per link direction).

The mock device places every command it runs here, and the graph compiler
places the commands a compiled call will issue here too, so a compile
report's modelled time and the device trace come from one algorithm.

Streams are independent queues, but the hardware under them is shared: two
host→device copies on different streams cannot both use the link at full
bandwidth, and (on an NPU with one array) two kernels do not run at once.
Each engine keeps its busy intervals in modelled time; a command is placed at
the earliest gap at or after its ready time that fits its duration, so the
schedule does not depend on which worker thread happened to run first when
the commands do not contend.
"""
from __future__ import annotations

import bisect
import threading

ENGINES = ("h2d", "d2h", "compute")


class EngineSchedule:
    def __init__(self):
        self._lock = threading.Lock()
        self._starts: dict[str, list[float]] = {e: [] for e in ENGINES}
        self._ends: dict[str, list[float]] = {e: [] for e in ENGINES}

    def place(self, engine: str | None, ready: float, duration: float) -> tuple[float, float]:
        """Reserve ``duration`` on ``engine`` at the earliest free time >= ``ready``; returns (start, end)."""
        if engine is None or duration <= 0:
            return ready, ready + max(duration, 0.0)
        with self._lock:
            starts, ends = self._starts[engine], self._ends[engine]
            # Intervals are disjoint and sorted, so the ends are sorted too.
            i = bisect.bisect_right(ends, ready)
            start = ready
            while i < len(starts) and starts[i] < start + duration:
                start = max(start, ends[i])
                i += 1
            starts.insert(i, start)
            ends.insert(i, start + duration)
            return start, start + duration

    def forget_before(self, time: float) -> None:
        """Drop the intervals that end at or before ``time``: no command can be placed before it any more
        (callers pass a lower bound of every future ready time), so memory stays bounded on long runs."""
        with self._lock:
            for engine in ENGINES:
                keep = bisect.bisect_right(self._ends[engine], time)
                if keep:
                    del self._starts[engine][:keep]
                    del self._ends[engine][:keep]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(ends) for ends in self._ends.values())

    def busy_until(self) -> float:
        with self._lock:
            return max((ends[-1] for ends in self._ends.values() if ends), default=0.0)
