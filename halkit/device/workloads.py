"""Workloads for the co-design notebooks: an MLP forward issued on one or two streams, and sweeps over DeviceSpec knobs.

With two streams the weights of layer i+1 are uploaded on a copy stream while
layer i computes on a compute stream (events order each GEMM after its own
weights), so the modelled latency shows how much copy/compute overlap buys on a
given device; with one stream everything runs back to back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .device import Device
from .spec import DeviceSpec
from .trace import TraceRecord


def mlp_parameters(sizes=(512, 512, 512, 10), seed: int = 0, dtype=np.float32) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(w, b)] per layer, w of shape (out, in), initialised like torch.nn.Linear (U(±1/√in))."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(fan_in)
        params.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype),
                       rng.uniform(-bound, bound, fan_out).astype(dtype)))
    return params


def mlp_reference(x: np.ndarray, params) -> np.ndarray:
    """The same forward on the host: relu after every layer but the last."""
    for i, (w, b) in enumerate(params):
        x = x @ w.T + b
        if i < len(params) - 1:
            x = np.maximum(x, 0)
    return x


@dataclass
class ForwardRun:
    output: np.ndarray
    latency: float  # modelled seconds from the first upload to the result being on the host
    records: list[TraceRecord]  # this forward's commands (markers included)
    streams: int

    @property
    def kernels(self) -> list[TraceRecord]:
        return [r for r in self.records if r.kind == "kernel"]

    def busy(self, engine: str) -> float:
        """Modelled seconds ``engine`` ("h2d", "d2h", "compute") was busy during this forward."""
        return sum(r.model_duration for r in self.records if r.engine == engine)


def mlp_forward(device: Device, x: np.ndarray, params, *, streams: int = 2, weights_resident: bool = False) -> ForwardRun:
    """Run the MLP forward on ``device`` and return its output, modelled latency and trace records.

    ``streams=2``: uploads on a "copy" stream, GEMMs on a "compute" stream, each GEMM
    waiting on an event recorded after its own weights; ``streams=1``: one stream.
    ``weights_resident=True`` uploads the weights before the timed region (a warm model).
    """
    if streams not in (1, 2):
        raise ValueError(f"streams must be 1 or 2, got {streams!r}")
    copy = device.stream("copy" if streams == 2 else "main")
    compute = device.stream("compute") if streams == 2 else copy
    buffers = []

    def upload(array):
        pinned = device.alloc_pinned(array.shape, array.dtype)
        pinned.array[...] = array
        buffer = device.alloc(array.shape, array.dtype)
        buffers.append(buffer)
        copy.copy_to_device(buffer, pinned)
        return buffer

    try:
        if weights_resident:
            device_params = [(upload(w), upload(b)) for w, b in params]
            copy.synchronize()
        start = copy.record()
        h = upload(x)
        compute.wait(copy.record())
        if not weights_resident:
            device_params, landed = [], []
            for w, b in params:
                device_params.append((upload(w), upload(b)))
                landed.append(copy.record())  # layer i may start once its own weights have landed
        for i, (w, b) in enumerate(device_params):
            if not weights_resident:
                compute.wait(landed[i])
            out = device.alloc((x.shape[0], w.shape[0]), x.dtype)
            buffers.append(out)
            compute.launch("gemm", out, h, w, b, trans_b=True, activation="relu" if i < len(params) - 1 else None)
            h = out
        result = device.alloc_pinned(h.shape, h.dtype)
        compute.copy_to_host(result, h)
        end = compute.record()
        end.synchronize()
        latency = start.elapsed_time(end) / 1e3
    finally:
        for buffer in buffers:
            buffer.free()
        for stream in {copy, compute}:
            stream.close()
    records = [r for r in device.trace.records
               if r.stream in (copy.name, compute.name) and start.model_time <= r.model_start <= end.model_time]
    return ForwardRun(result.array.copy(), latency, records, streams)


def sweep(spec: DeviceSpec, knob: str, values, x: np.ndarray, params, *, streams=(1, 2),
          weights_resident: bool = False) -> list[dict]:
    """Modelled MLP-forward latency for each value of one DeviceSpec knob, on 1 and/or 2 streams.

    ``knob`` is a DeviceSpec field ("link_bandwidth", "memory_bandwidth", ...) or
    "array" (a square systolic array of that many rows and columns).
    Returns one dict per (value, streams): value, streams, latency, and busy time per engine.
    """
    rows = []
    for value in values:
        point = spec.with_array(int(value)) if knob == "array" else spec.replace(**{knob: value})
        for n in (streams,) if isinstance(streams, int) else streams:
            with Device(point) as device:
                run = mlp_forward(device, x, params, streams=n, weights_resident=weights_resident)
            rows.append({"knob": knob, "value": value, "streams": n, "latency": run.latency,
                         "h2d_busy": run.busy("h2d"), "compute_busy": run.busy("compute"),
                         "d2h_busy": run.busy("d2h")})
    return rows
