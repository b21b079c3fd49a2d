"""The device trace: one record per command, exported as Chrome trace JSON (Perfetto, chrome://tracing) or plain dicts."""
from __future__ import annotations

import collections
import dataclasses
import json
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class TraceRecord:
    index: int  # issue order on the device
    stream: str
    kind: str  # h2d | d2h | d2d | fill | kernel | host_func | record | wait | sync
    name: str
    nbytes: int
    flops: float
    bound: str | None  # "compute" | "memory" (roofline) or None for markers
    engine: str | None
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


class Trace:
    """Thread-safe, bounded record of what a device ran; keeps the newest ``capacity`` records."""

    def __init__(self, device_name: str, capacity: int = 100_000):
        self.device_name = device_name
        self.enabled = True
        self._records: collections.deque[TraceRecord] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, record: TraceRecord) -> None:
        if self.enabled:
            with self._lock:
                self._records.append(record)

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
        """One dict per command, in issue order: ready for pandas / matplotlib."""
        return [dataclasses.asdict(r) | {"model_duration": r.model_duration} for r in self.records]

    def to_chrome(self, clock: str = "model") -> dict:
        """Chrome trace-event JSON object: one complete ("X") event per command, one thread per stream.

        ``clock="model"`` lays the commands out on the cost model's time, ``"real"``
        on the wall-clock time the mock actually spent.
        """
        if clock not in ("model", "real"):
            raise ValueError(f"clock must be 'model' or 'real', got {clock!r}")
        records = self.records
        tids = {name: i for i, name in enumerate(dict.fromkeys(r.stream for r in records))}
        events = [
            {"name": r.name, "cat": r.kind, "ph": "X", "pid": 0, "tid": tids[r.stream],
             "ts": getattr(r, f"{clock}_start") * 1e6, "dur": (getattr(r, f"{clock}_end") - getattr(r, f"{clock}_start")) * 1e6,
             "args": {"bytes": r.nbytes, "flops": r.flops, "bound": r.bound, "engine": r.engine, "status": r.status,
                      "index": r.index}}
            for r in records
        ]
        names = [{"name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": stream}}
                 for stream, tid in tids.items()]
        names.append({"name": "process_name", "ph": "M", "pid": 0, "args": {"name": f"{self.device_name} ({clock} time)"}})
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
