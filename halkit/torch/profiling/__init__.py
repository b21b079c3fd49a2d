"""``halkit.torch.profile``: one trace of a training step — torch's ops on the host and the device work they issued.

::

    with halkit.torch.profile() as prof:
        step()                      # forward, backward, optimizer step
    prof.save_chrome("step.json")   # open it in https://ui.perfetto.dev (drag the file in)
    prof.summary()                  # busy time per host thread, stream and engine; bytes copied
    prof.ops()                      # per host op: calls, host time, the device work issued while it ran

The trace holds, on one clock (the host's ``perf_counter``, 0 = the profile's start):

* **host lanes**, one per thread: each torch op as it reached its kernel (``aten::addmm``), inside the module
  forwards and ``record_function`` spans (``Optimizer.step#Adam.step``) around it (:mod:`.host`);
* per traced device, **a lane per stream** with its copies, kernels and markers, and **a lane per engine**
  (h2d copy, d2h copy, compute), in the real time the device ran them, each with its modelled time as args;
* **an arrow from each command to the host span that issued it** (Perfetto draws flows), so a reader sees
  which host op issued which device work and where the host waited (a "synchronize" marker the arrow of a long
  host span points at, and each span's modelled wait).

Both ways a user puts torch on a device are covered: tensors on the torch device (``model.to("halkit")``) and
HAL layers on CPU tensors (``HALLinear``, ``convert``) under ``halkit.hal.use(name)``: the devices traced are,
by default, the torch device's driver and the HAL's current one, those of them that keep a trace (a device
driver such as the mock does; a host driver runs its kernels inside the host op, whose span is its time).

Device time is final: the profile synchronizes every device it reads when it opens (earlier work does not leak
in) and before it closes (every command issued in the window has finished and is in the trace); the closing
wait is its own span, "synchronize (profile end)".

Why a TorchDispatchMode rather than ``torch.profiler``: the host spans must sit on the device trace's clocks.
A span here takes a place in the device's issue order (``Trace.now()``) at its entry and exit, so which op
issued a command is exact, and its time is the same ``perf_counter`` the device's trace is kept on (aligned
to a fraction of a µs). torch.profiler's host events are on Kineto's clock (an approximate wall clock),
which would have to be matched to the device's by estimation, it has no view of halkit's device without a
C++ Kineto plugin, and it sees the op that issued a command only as an overlap in time. The price: a few µs
of Python per op while profiling, and autograd's node names (``AddmmBackward0``) are not seen — the ops they
run are, on the thread that ran them.
"""
from __future__ import annotations

import json
import time
import warnings

import halkit.hal as hal

from .chrome import chrome_trace
from .device import DeviceEvent, TracedDevice, clock_offset, device_events, window_records
from .host import HostRecorder, HostSpan
from .tables import Lane, lanes, ops_table, summary_table


class profile:
    """Record the enclosed code: host ops, and the commands of each traced device, on one clock.

    ``devices``: drivers (or backend names) to trace; none = the torch device's driver and the HAL's current
    driver, those that keep a trace. ``modules``: spans for nn.Module forwards (default True).
    """

    def __init__(self, *devices, modules: bool = True):
        self._drivers = [_driver(d) for d in devices]
        self._explicit = bool(devices)
        self._modules = bool(modules)
        self.host_spans: list[HostSpan] = []
        self.device_events: list[DeviceEvent] = []
        self.devices: list[str] = []  # the traced devices' names
        self.duration: float | None = None  # seconds from the profile's start to its end (after synchronizing)
        self._traced: list[TracedDevice] = []
        self._recorder: HostRecorder | None = None
        self._state = "new"

    # --- recording -----------------------------------------------------------------------------------------------
    def __enter__(self) -> "profile":
        if self._state != "new":
            raise RuntimeError("a halkit.torch.profile records one window: make a new one for another")
        drivers = self._drivers or _default_drivers()
        traces = [trace for driver in drivers if (trace := _trace_of(driver, self._explicit))]
        traces = list({id(trace): trace for trace in traces}.values())  # two drivers of one device: one entry
        self._state, self._drivers = "recording", drivers
        for driver in drivers:  # earlier work finishes before the window, so none of it is counted in it
            driver.synchronize()
        self._enabled = [trace.enabled for trace in traces]
        for trace in traces:
            trace.enabled = True  # a profile reads the trace: record it even if its owner had turned it off
        self._origin = time.perf_counter()
        for trace in traces:
            offset, error = clock_offset(trace)
            index, _, model = trace.now()
            self._traced.append(TracedDevice(trace, offset, error, index, model))
        self.devices = [d.trace.device_name for d in self._traced]
        self._recorder = HostRecorder([d.trace for d in self._traced], self._origin, self._modules)
        self._recorder.start()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            with self._recorder.span("synchronize (profile end)", "profile"):
                for driver in self._drivers:
                    driver.synchronize()
        finally:
            self._recorder.stop()
            self.duration = time.perf_counter() - self._origin
            self._state = "done"
            for device, enabled in zip(self._traced, self._enabled):
                device.trace.enabled = enabled
        self.host_spans = sorted(self._recorder.spans, key=lambda s: s.start)
        for slot, device in enumerate(self._traced):
            records, lost = window_records(device, device.trace.now()[0])
            if lost:
                warnings.warn(f"the trace of {device.trace.device_name!r} keeps its newest {device.trace.capacity:,} "
                              "records: the profile's oldest commands may be missing (profile a shorter window)",
                              RuntimeWarning, stacklevel=2)
            self.device_events += device_events(device, records, self.host_spans, slot, self._origin)

    # --- reading -----------------------------------------------------------------------------------------------
    def to_chrome(self) -> dict:
        """The Chrome trace-event JSON object (host lanes, stream and engine lanes per device, issue arrows)."""
        self._check_done()
        return chrome_trace(self)

    def save_chrome(self, path) -> str:
        """Write the trace to ``path`` (open it in https://ui.perfetto.dev: drag the file in); returns the path."""
        with open(path, "w") as f:
            json.dump(self.to_chrome(), f)
        return str(path)

    def lanes(self) -> list[Lane]:
        """Per host thread, device stream and engine: events, busy time (real and modelled), bytes copied."""
        self._check_done()
        return lanes(self)

    def summary(self):
        """:meth:`lanes` as a table in the units a person reads, with the window and the bytes each way."""
        self._check_done()
        return summary_table(self)

    def ops(self, limit: int | None = 15):
        """Per host op (and module, annotation): calls, host time, and the device work issued while it ran;
        the ``limit`` longest (None: all)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"limit must be a positive int or None (every row), got {limit!r}")
        self._check_done()
        return ops_table(self, limit)

    def clock_error(self) -> float:
        """Seconds within which each device's records are placed on the host clock (the alignment's bound)."""
        return max((d.offset_error for d in self._traced), default=0.0)

    def _check_done(self) -> None:
        if self._state != "done":
            raise RuntimeError("the profile is read after its `with` block has closed")

    def __repr__(self) -> str:
        if self._state != "done":
            return f"<halkit.torch.profile {self._state}>"
        return (f"<halkit.torch.profile: {self.duration * 1e3:.2f} ms, {len(self.host_spans)} host spans, "
                f"{len(self.device_events)} device commands on {self.devices or 'no traced device'}; "
                ".summary(), .ops(), .save_chrome(path)>")


def _driver(device):
    if isinstance(device, hal.Driver):
        return device
    if isinstance(device, str):
        return hal.get_backend(device)
    raise TypeError(f"devices must be halkit.hal drivers or backend names (one of {hal.backends()}), "
                    f"got {type(device).__name__}")


def _default_drivers() -> list:
    from halkit.torch import device as torch_device  # the torch device "halkit", when its extension is built

    drivers = [torch_device.driver.current()] if torch_device.available() else []
    return list({id(d): d for d in drivers + [hal.get_backend(hal.current_backend())]}.values())


def _trace_of(driver, explicit: bool):
    """The driver's trace (a halkit.device.Trace: it has ``now``), or None; naming one without is an error."""
    trace = getattr(driver, "trace", None)
    if trace is not None and hasattr(trace, "now"):
        return trace
    if explicit:
        raise ValueError(f"driver {driver.name!r} keeps no trace of its commands, so a profile cannot show them "
                         "(a host driver runs its kernels inside the host op: its span is their time); "
                         f"profile a device driver that keeps one (of {hal.backends()})")
    return None


__all__ = ["DeviceEvent", "HostSpan", "Lane", "profile"]
