"""A profile as Chrome trace-event JSON (what ui.perfetto.dev and chrome://tracing open).

Processes: "host" (a thread per host lane), then per traced device one process of stream lanes and one of
engine lanes. Complete ("X") events in µs since the profile's start, on the host's clock; flow events ("s" on
the issuing host span, "f" on the command) draw an arrow from the op that issued a command to it. A flow
event binds to the slice open on its thread at its time, so each is placed where only the intended slice is
open: the command's middle, and the issuer's own time before its first child.
"""
from __future__ import annotations

import bisect
import collections

from .device import ENGINE_LANES, bytes_copied

HOST_PID = 1


def chrome_trace(prof) -> dict:
    events, meta = [], []
    _process(meta, HOST_PID, "host: torch ops (backward runs on autograd's worker thread for device tensors)", 0)
    host_threads = set()
    for span in prof.host_spans:
        if span.thread not in host_threads:
            host_threads.add(span.thread)
            _thread(meta, HOST_PID, span.thread, span.lane, len(host_threads))
        events.append(_slice(span.name, span.category, HOST_PID, span.thread, span.start, span.end, {
            "shapes": span.shapes, "status": span.status,
            "modelled host wait (µs)": _us(span.waited),
        }))
    flows, anchor = 0, _flow_anchors(prof.host_spans)
    for d, device in enumerate(prof.devices):
        streams_pid, engines_pid = 2 + 2 * d, 3 + 2 * d
        _process(meta, streams_pid, f"{device}: streams", 1 + 2 * d)
        _process(meta, engines_pid, f"{device}: engines (real time the mock ran each command)", 2 + 2 * d)
        mine = [e for e in prof.device_events if e.device == device]
        streams = {}
        for event in mine:
            stream = event.record.stream
            if stream not in streams:
                streams[stream] = len(streams) + 1
                _thread(meta, streams_pid, streams[stream], f"stream {stream}", streams[stream])
            args = _command_args(event)
            events.append(_slice(event.name, event.record.kind, streams_pid, streams[stream], event.start, event.end,
                                 args))
            if event.issuer is not None:
                flows += 1
                issuer = event.issuer
                events.append({"name": "issue", "cat": "issue", "ph": "s", "id": flows, "pid": HOST_PID,
                               "tid": issuer.thread, "ts": anchor(issuer) * 1e6})
                events.append({"name": "issue", "cat": "issue", "ph": "f", "bp": "e", "id": flows,
                               "pid": streams_pid, "tid": streams[stream],
                               "ts": (event.start + event.end) / 2 * 1e6})
        for tid, (lane, on_lane) in enumerate(_engine_lanes(mine).items(), start=1):
            _thread(meta, engines_pid, tid, lane, tid)
            events += [_slice(e.name, e.record.kind, engines_pid, tid, e.start, e.end, _command_args(e))
                       for e in on_lane]
    return {"traceEvents": events + meta, "displayTimeUnit": "ns",
            "otherData": {"clock": "host perf_counter, µs since the profile's start; device records aligned "
                                   f"within {prof.clock_error() * 1e6:.2f} µs",
                          "window (µs)": _us(prof.duration), "devices": ", ".join(prof.devices)}}


def _flow_anchors(spans):
    """A function giving, for a host span, a time inside it before its first child starts (the middle of that
    gap): there the span is the innermost one open on its thread."""
    starts = collections.defaultdict(list)
    for span in sorted(spans, key=lambda s: s.start):
        starts[span.thread].append(span.start)

    def anchor(span) -> float:
        lane = starts[span.thread]
        following = bisect.bisect_right(lane, span.start)
        first_child = lane[following] if following < len(lane) else span.end
        return (span.start + min(first_child, span.end)) / 2
    return anchor


def _engine_lanes(events) -> dict[str, list]:
    """Commands by engine; where two overlap in real time (two streams at once), the later one goes on a
    second lane of that engine ("compute engine #2"), as a Chrome thread must hold properly nested slices."""
    lanes: dict[str, list] = {}
    ends: dict[str, list[float]] = {}
    for event in sorted((e for e in events if e.record.engine), key=lambda e: e.start):
        engine = ENGINE_LANES.get(event.record.engine, f"{event.record.engine} engine")
        ends.setdefault(engine, [])
        row = next((i for i, end in enumerate(ends[engine]) if end <= event.start), len(ends[engine]))
        if row == len(ends[engine]):
            ends[engine].append(event.end)
        ends[engine][row] = event.end
        lanes.setdefault(engine if row == 0 else f"{engine} #{row + 1}", []).append(event)
    return lanes


def _command_args(event) -> dict:
    r = event.record
    issuer = event.issuer
    return {"issued by": f"{issuer.name} ({issuer.lane})" if issuer is not None else "-",
            "bytes": r.nbytes, "bytes copied": bytes_copied(event), "FLOP": r.flops, "bound": r.bound,
            "engine": r.engine, "status": r.status, "modelled start (µs)": _us(event.model_start),
            "modelled duration (µs)": _us(event.model_duration), "issue index": r.index}


def _slice(name, category, pid, tid, start, end, args) -> dict:
    return {"name": name, "cat": category, "ph": "X", "pid": pid, "tid": tid, "ts": start * 1e6,
            "dur": max(end - start, 0.0) * 1e6, "args": args}


def _process(meta, pid, name, order) -> None:
    meta.append({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": name}})
    meta.append({"name": "process_sort_index", "ph": "M", "pid": pid, "args": {"sort_index": order}})


def _thread(meta, pid, tid, name, order) -> None:
    meta.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
    meta.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": {"sort_index": order}})


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)
