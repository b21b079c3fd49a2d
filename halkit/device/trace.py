"""The device trace: one record per command, plus host-side spans, as Chrome trace JSON, dicts or a readable table.

Device records come from the streams (one per command: copies, kernels,
markers). Host spans (``with trace.host_span("forward"): ...``) add what the
host was doing — an op, a training step — on a lane per host thread, so one
Perfetto trace shows host ops above the device streams, copies and kernels
they caused. A host span's modelled interval is the modelled host time at its
entry and exit: the host's clock advances when it waits for the device, so a
span that synchronises covers the device work it waited for.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import json
import threading
import time
from dataclasses import dataclass

#: the kind of a host span, and its lane's name (``host:<thread>`` for a thread other than the main one)
HOST = "host"


@dataclass(frozen=True, slots=True)  # slots: a full trace holds many of these
class TraceRecord:
    index: int  # issue order on the device
    stream: str  # the stream's name, or "host" / "host:<thread>" for a host span
    kind: str  # h2d | d2h | d2d | fill | kernel | host_func | record | wait | sync | host
    name: str
    nbytes: int
    flops: float
    bound: str | None  # "compute" | "memory" (roofline) or None for markers and host spans
    engine: str | None  # "h2d" | "d2h" | "compute" | None (markers, host functions, host spans)
    status: str  # ok | failed | skipped (after a failure, until the error is reported)
    real_start: float  # seconds since the device was created (perf_counter)
    real_end: float
    model_start: float  # modelled seconds since the device was created
    model_end: float

    @property
    def model_duration(self) -> float:
        return self.model_end - self.model_start

    @property
    def real_duration(self) -> float:
        return self.real_end - self.real_start


def _standalone_clock():
    counter, origin = itertools.count(), time.perf_counter()
    return lambda: (next(counter), time.perf_counter() - origin, 0.0)


class Trace:
    """Thread-safe, bounded record of what a device ran; keeps the newest ``capacity`` records.

    ``clock()`` returns (next issue index, real seconds, modelled host seconds) for host spans; a Device
    passes its own so spans interleave with its commands.
    """

    def __init__(self, device_name: str, capacity: int = 100_000, clock=None):
        self.device_name = device_name
        self.enabled = True
        self._records: collections.deque[TraceRecord] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._clock = clock or _standalone_clock()

    @property
    def capacity(self) -> int:
        return self._records.maxlen

    def add(self, record: TraceRecord) -> None:
        if self.enabled:
            with self._lock:
                self._records.append(record)

    def now(self) -> tuple[int, float, float]:
        """(issue index, real seconds, modelled host seconds) at this instant on this trace's clocks.

        The index takes a place in the device's issue order: a command recorded with a larger index was issued
        after this call. Host-side records kept elsewhere (``halkit.torch.profile``) use it to sit in this
        trace's order and on its clocks."""
        return self._clock()

    @contextlib.contextmanager
    def host_span(self, name: str):
        """Record the enclosed host code as one span on the calling thread's host lane (nesting allowed)."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        thread = threading.current_thread()
        lane = HOST if thread is threading.main_thread() else f"{HOST}:{thread.name}"
        index, real_start, model_start = self.now()
        status = "ok"
        try:
            yield
        except BaseException:
            status = "failed"
            raise
        finally:
            _, real_end, model_end = self.now()
            self.add(TraceRecord(index, lane, HOST, name, 0, 0.0, None, None, status, real_start, real_end,
                                 model_start, model_end))

    @property
    def records(self) -> list[TraceRecord]:
        with self._lock:
            return sorted(self._records, key=lambda r: r.index)

    def __len__(self) -> int:
        return len(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def to_dicts(self) -> list[dict]:
        """One dict per record, in issue order (seconds and bytes): ready for pandas / matplotlib."""
        return [dataclasses.asdict(r) | {"model_duration": r.model_duration} for r in self.records]

    def table(self, limit: int | None = None, clock: str = "model"):
        """The records in units a person reads (µs, MB, FLOP), one row per command; displays as HTML in Jupyter."""
        from halkit.plots.device import trace_table  # the one table of a trace, with the other views

        return trace_table(self, limit=limit, clock=clock)

    def to_chrome(self, clock: str = "model") -> dict:
        """Chrome trace-event JSON object: one complete ("X") event per record.

        The device is one process with a thread per stream; host spans are a second process ("host") with a
        thread per host lane. ``clock="model"`` lays records out on the cost model's time, ``"real"`` on the
        wall-clock time the mock actually spent.
        """
        if clock not in ("model", "real"):
            raise ValueError(f"clock must be 'model' or 'real', got {clock!r}")
        records = self.records
        lanes = {lane: i for i, lane in enumerate(dict.fromkeys((r.kind == HOST, r.stream) for r in records))}
        events = [
            {"name": r.name, "cat": r.kind, "ph": "X", "pid": int(r.kind == HOST),
             "tid": lanes[r.kind == HOST, r.stream],
             "ts": getattr(r, f"{clock}_start") * 1e6,
             "dur": (getattr(r, f"{clock}_end") - getattr(r, f"{clock}_start")) * 1e6,
             "args": {"bytes": r.nbytes, "flops": r.flops, "bound": r.bound, "engine": r.engine, "status": r.status,
                      "index": r.index}}
            for r in records
        ]
        names = [{"name": "thread_name", "ph": "M", "pid": int(is_host), "tid": tid, "args": {"name": stream}}
                 for (is_host, stream), tid in lanes.items()]
        names.append({"name": "process_name", "ph": "M", "pid": 0,
                      "args": {"name": f"{self.device_name} ({clock} time)"}})
        if any(is_host for is_host, _ in lanes):
            names.append({"name": "process_name", "ph": "M", "pid": 1, "args": {"name": f"host ({clock} time)"}})
        return {"traceEvents": events + names, "displayTimeUnit": "ns"}

    def save_chrome(self, path, clock: str = "model") -> str:
        """Write the Chrome trace JSON to ``path`` (open it in https://ui.perfetto.dev); returns the path."""
        with open(path, "w") as f:
            json.dump(self.to_chrome(clock), f)
        return str(path)

    def summary(self) -> dict:
        """Modelled makespan and busy time per engine (overlap shows as busy sum > makespan)."""
        records = [r for r in self.records if r.engine]
        if not records:
            return {"makespan": 0.0, "busy": {}}
        busy = collections.Counter()
        for r in records:
            busy[r.engine] += r.model_duration
        return {"makespan": max(r.model_end for r in records) - min(r.model_start for r in records), "busy": dict(busy)}

    def __repr__(self) -> str:
        summary = self.summary()
        return (f"<Trace of {self.device_name!r}: {len(self)} records, modelled makespan "
                f"{summary['makespan'] * 1e6:.1f} µs; .table() to read it, .save_chrome(path) for Perfetto>")

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

