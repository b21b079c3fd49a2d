"""A profile in numbers: busy time per lane (host thread, device stream, engine) and per host op, as tables.

The tables are halkit.plots Tables (text, or HTML in Jupyter), imported when one is made: importing
halkit.torch does not load matplotlib.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass

from .device import COPIES, ENGINE_LANES, IssuedIndex, bytes_copied


@dataclass(frozen=True, slots=True)
class Lane:
    """One lane of the trace and what it did in the window (seconds and bytes)."""

    name: str  # "host · main thread", "mock:0 · stream default", "mock:0 · h2d copy engine"
    kind: str  # "host thread" | "stream" | "engine"
    events: int  # host: op spans; device: commands
    busy: float  # real seconds with at least one span/command running
    modelled: float | None  # device lanes: modelled busy seconds (the cost model's device)
    bytes_copied: int  # device lanes: bytes their copies moved; host: bytes the copies it issued moved
    waited: float | None  # host lanes: modelled seconds the thread waited for the devices


def lanes(prof) -> list[Lane]:
    rows = []
    by_thread = collections.defaultdict(list)
    for span in prof.host_spans:
        by_thread[span.lane].append(span)
    issued_bytes = collections.Counter()
    for event in prof.device_events:
        if event.issuer is not None:
            issued_bytes[event.issuer.lane] += bytes_copied(event)
    for lane, spans in by_thread.items():
        roots = _roots(spans)
        rows.append(Lane(f"host · {lane}", "host thread", sum(s.category == "op" for s in spans),
                         _union([(s.start, s.end) for s in roots]), None, issued_bytes[lane],
                         sum(s.waited for s in roots)))
    for device in prof.devices:
        events = [e for e in prof.device_events if e.device == device]
        groups = [("stream", f"stream {e.record.stream}", e) for e in events]
        groups += [("engine", ENGINE_LANES.get(e.record.engine, e.record.engine), e) for e in events if e.record.engine]
        grouped = collections.defaultdict(list)
        for kind, name, event in groups:
            grouped[kind, name].append(event)
        for (kind, name), on_lane in grouped.items():
            rows.append(Lane(f"{device} · {name}", kind, len(on_lane), _union([(e.start, e.end) for e in on_lane]),
                             sum(e.model_duration for e in on_lane), sum(map(bytes_copied, on_lane)), None))
    return rows


def summary_table(prof):
    from halkit.plots import Table, duration, size

    body = [(lane.name, lane.events, duration(lane.busy), f"{lane.busy / prof.duration:.0%}" if prof.duration else "-",
             duration(lane.modelled), size(lane.bytes_copied) if lane.bytes_copied else "-", duration(lane.waited))
            for lane in lanes(prof)]
    notes = [f"window {duration(prof.duration)} on the host's clock, the devices synchronized at both ends; "
             "busy (real) = what this run took, modelled = the device's cost model"]
    for device in prof.devices:
        events = [e for e in prof.device_events if e.device == device]
        moved = {kind: sum(bytes_copied(e) for e in events if e.record.kind == kind) for kind in COPIES}
        engines = [e for e in events if e.record.engine]
        makespan = (max(e.model_start + e.model_duration for e in engines) - min(e.model_start for e in engines)
                    if engines else 0.0)
        notes.append(f"{device}: {len(events)} commands, {size(moved['h2d'])} to the device, {size(moved['d2h'])} "
                     f"back, {size(moved['d2d'])} device to device; modelled device makespan {duration(makespan)}")
    columns = ("lane", "events", "busy (real)", "of window", "busy (modelled)", "bytes copied",
               "host waited (modelled)")
    return Table(columns, body, notes, numeric=columns[1:])


def ops_table(prof, limit: int | None):
    """Per host span name: calls, host time, and the device work issued while a call was open (inclusive: a
    module's row counts its ops' work; an op's is its own)."""
    from halkit.plots import Table, duration, size

    indexes = [IssuedIndex([e for e in prof.device_events if e.device == device]) for device in prof.devices]
    totals = collections.defaultdict(lambda: [0, 0.0, 0, 0, 0.0, 0.0, 0.0])
    for span in prof.host_spans:
        row = totals[span.category, span.name]
        row[0] += 1
        row[1] += span.duration
        for index, (first, last, waited) in zip(indexes, span.marks):
            commands, copied, real, model = index.between(first, last)
            row[2] += commands
            row[3] += copied
            row[4] += real
            row[5] += model
            row[6] += waited
    ranked = sorted(totals.items(), key=lambda item: -item[1][1])
    shown = ranked[:limit] if limit is not None else ranked
    body = [(name, category, calls, duration(host), commands, duration(real), duration(model),
             size(copied) if copied else "-", duration(waited))
            for (category, name), (calls, host, commands, copied, real, model, waited) in shown]
    notes = ["host time: real, summed over calls; device: the commands issued while a call was open"
             + (f"; the {len(shown)} longest of {len(ranked)}" if len(shown) < len(ranked) else "")]
    columns = ("host span", "kind", "calls", "host time", "device commands", "device time (real)",
               "device time (modelled)", "bytes copied", "host waited (modelled)")
    return Table(columns, body, notes, numeric=columns[2:])


def _roots(spans) -> list:
    """The spans no other span of the same lane contains (the lane's top level)."""
    roots, end = [], float("-inf")
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.start >= end:
            roots.append(span)
            end = span.end
    return roots


def _union(intervals) -> float:
    """Seconds covered by at least one of the (start, end) intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total
