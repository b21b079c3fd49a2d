"""The device side of a profile: a traced device's commands of the window, on the host's clock, with their issuer.

A traced device is a HAL driver that keeps a :class:`halkit.device.Trace` (the mock accelerator does: one record
per copy, kernel and marker, with the real time its worker ran it and its modelled time). Its real clock is
``perf_counter`` minus the device's origin; :func:`clock_offset` measures that origin once, to a fraction of a
microsecond, so the device's records sit on the host spans' clock.
"""
from __future__ import annotations

import bisect
import time
from dataclasses import dataclass

from halkit.device.trace import HOST, TraceRecord

from .host import HostSpan

#: the engines of halkit.hal.cost, as a lane reads
ENGINE_LANES = {"h2d": "h2d copy engine", "d2h": "d2h copy engine", "compute": "compute engine"}
#: what a marker command is, as a lane reads
MARKER_NAMES = {"sync": "synchronize (the host waits)", "record": "record event", "wait": "wait for event"}
COPIES = ("h2d", "d2h", "d2d")


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One command a traced device ran in the window."""

    device: str  # the device's name, "mock:0"
    record: TraceRecord  # the device's own record (bytes, FLOP, bound, engine, status, real and modelled times)
    start: float  # real seconds since the profile started: when the device began it
    end: float
    model_start: float  # modelled seconds since the profile started (the modelled host time at its start = 0)
    issuer: HostSpan | None  # the innermost host span open when it was issued

    @property
    def name(self) -> str:
        r = self.record
        if r.kind in COPIES:
            return f"{r.kind} copy"
        return MARKER_NAMES.get(r.kind, r.name)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def model_duration(self) -> float:
        return self.record.model_duration


@dataclass(frozen=True, slots=True)
class TracedDevice:
    """A device the profile reads: its trace, and where the window starts in its issue order and clocks."""

    trace: object  # a halkit.device.Trace
    offset: float  # perf_counter() = trace real seconds + offset
    offset_error: float  # half the width of the bracket the offset was measured in
    start_index: int
    model_origin: float  # the modelled host time when the window opened


def clock_offset(trace, tries: int = 5) -> tuple[float, float]:
    """(offset, error): ``perf_counter() ≈ trace real seconds + offset``, from the tightest of a few brackets."""
    best = None
    for _ in range(tries):
        before = time.perf_counter()
        _, real, _ = trace.now()
        after = time.perf_counter()
        if best is None or after - before < 2 * best[1]:
            best = ((before + after) / 2 - real, (after - before) / 2)
    return best


def window_records(device: TracedDevice, end_index: int) -> tuple[list[TraceRecord], bool]:
    """The device's commands issued in the window (start, end), and whether the trace may have dropped some of
    them (it keeps its newest ``capacity`` records)."""
    records = device.trace.records
    lost = len(records) >= device.trace.capacity and bool(records) and records[0].index > device.start_index
    return [r for r in records if device.start_index < r.index < end_index and r.kind != HOST], lost


def device_events(device: TracedDevice, records: list[TraceRecord], spans: list[HostSpan], slot: int,
                  origin: float) -> list[DeviceEvent]:
    """The records as DeviceEvents on the profile's clock (``origin`` = the profile's perf_counter start), each
    with its issuer: the most recently entered host span still open when the command took its issue index.
    (While two host threads issue work at the same moment, that is the most recent of their spans.)"""
    # One sweep in issue order: span entries and exits (slot = this device's marks) and the commands.
    points = [(span.marks[slot][0], 0, span) for span in spans] + [(span.marks[slot][1], 1, span) for span in spans]
    points += [(r.index, 2, r) for r in records]
    points.sort(key=lambda p: p[0])
    open_spans: dict[int, HostSpan] = {}  # insertion order = entry order: the last one is the innermost
    events = []
    name = device.trace.device_name
    shift = device.offset - origin
    for _, what, item in points:
        if what == 0:
            open_spans[id(item)] = item
        elif what == 1:
            open_spans.pop(id(item), None)
        else:
            issuer = next(reversed(open_spans.values()), None)
            events.append(DeviceEvent(name, item, item.real_start + shift, item.real_end + shift,
                                      item.model_start - device.model_origin, issuer))
    return events


def bytes_copied(event: DeviceEvent) -> int:
    """Bytes a copy moved (0 for other commands, and for a copy that failed or was skipped: the driver's stats
    count only what ran)."""
    r = event.record
    return r.nbytes if r.kind in COPIES and r.status == "ok" else 0


class IssuedIndex:
    """Totals of the device work issued between two issue indices of one device, by bisection (prefix sums)."""

    def __init__(self, events: list[DeviceEvent]):
        events = sorted(events, key=lambda e: e.record.index)
        self._indices = [e.record.index for e in events]
        self._sums = [(0, 0, 0.0, 0.0)]
        for e in events:
            count, copied, real, model = self._sums[-1]
            self._sums.append((count + 1, copied + bytes_copied(e), real + e.duration, model + e.model_duration))

    def between(self, first: int, last: int) -> tuple[int, int, float, float]:
        """(commands, bytes copied, real seconds, modelled seconds) of the commands issued in (first, last)."""
        lo, hi = bisect.bisect_right(self._indices, first), bisect.bisect_left(self._indices, last)
        return tuple(b - a for a, b in zip(self._sums[lo], self._sums[hi]))
