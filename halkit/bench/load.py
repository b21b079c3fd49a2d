"""Is the machine busy while we measure? Load average, other processes' CPU use, hypervisor steal.

A benchmark on a shared machine is only honest if it says when the machine was
shared. Three signals, each stated next to the numbers:

* the 1-minute load average against the cores this process may use;
* the CPU time *other* processes took during the timed phases (all CPUs'
  busy time from ``/proc/stat`` minus this process's own CPU time);
* steal: time the hypervisor gave our vCPUs to another guest (``/proc/stat``).

Rounds that disagree (see ``Timing.noisy``) are the fourth signal; the tables
flag them per row. Ratios from one interleaved run stay comparable on a loaded
machine (the load hits every candidate alike); absolute times do not.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

from halkit import hal

#: Other processes' share of the cores above which the run is called loaded.
BUSY_SHARE = 0.25
#: Steal share above which the run is called loaded.
STEAL_SHARE = 0.05


def _proc_stat() -> tuple[float, float, float] | None:
    """(busy, steal, total) CPU seconds of the whole machine so far, or None where /proc/stat is missing."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [float(v) for v in fields[1:9]] + [0.0] * (8 - len(fields[1:9]))
    user, nice, system, idle, iowait, irq, softirq, steal = ticks
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz, sum(ticks) / hz


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class LoadMonitor:
    """Accumulates machine-wide CPU use over the timed phases (``with monitor.track(): ...``)."""

    cores: int = field(default_factory=lambda: hal.usable_cores())
    wall: float = 0.0
    others_busy: float = 0.0
    steal: float = 0.0
    stat_total: float = 0.0
    load_average: float = 0.0
    available: bool = True

    @contextlib.contextmanager
    def track(self):
        before, own, start = _proc_stat(), _own_cpu(), time.perf_counter()
        try:
            yield self
        finally:
            after, own_after, end = _proc_stat(), _own_cpu(), time.perf_counter()
            self.load_average = max(self.load_average, _load_average())
            if before is None or after is None:
                self.available = False
            else:
                self.wall += end - start
                self.others_busy += max(0.0, (after[0] - before[0]) - (own_after - own))
                self.steal += after[1] - before[1]
                self.stat_total += after[2] - before[2]

    def summary(self) -> dict:
        """The figures, a verdict (``loaded``) and a sentence saying what they mean for the numbers."""
        others = self.others_busy / (self.wall * self.cores) if self.available and self.wall > 0 else None
        steal = self.steal / self.stat_total if self.available and self.stat_total > 0 else None
        reasons = []
        if self.load_average > self.cores:
            reasons.append(f"load average {self.load_average:.1f} on {self.cores} cores")
        if others is not None and others > BUSY_SHARE:
            reasons.append(f"other processes used {100 * others:.0f} % of the cores while we timed")
        if steal is not None and steal > STEAL_SHARE:
            reasons.append(f"the hypervisor stole {100 * steal:.0f} % of the CPU time")
        figures = (f"load average {self.load_average:.1f} on {self.cores} cores"
                   + ("" if others is None else f", others' CPU share {100 * others:.0f} %")
                   + ("" if steal is None else f", steal {100 * steal:.1f} %"))
        if reasons:
            text = ("LOADED (" + "; ".join(reasons) + "): absolute times are slower and noisier than on a quiet "
                    "machine; same-run ratios still compare like with like, but trust only those not marked ~")
        else:
            text = f"quiet ({figures})"
        return {"loaded": bool(reasons), "load_average": self.load_average, "cores": self.cores,
                "others_share": others, "steal_share": steal, "text": text}


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0
