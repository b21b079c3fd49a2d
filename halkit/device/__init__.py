"""halkit.device — a mock accelerator exercised the way a real PCIe/NPU device is.

Object model (after IREE's HAL and CUDA streams):

* :class:`Device` — a DeviceSpec (cost model), an allocator with a capacity,
  streams, hardware engines (modelled), a Trace and stats of what moved.
  ``devices()`` enumerates the process's devices; ``get_device(i)`` picks one.
* :class:`Buffer` — device memory the host cannot touch; :class:`PinnedBuffer` —
  page-locked host memory for asynchronous copies.
* :class:`Stream` — an in-order command queue run by a worker thread: copies
  (host↔device, device↔device), fill, kernel launch (any op of the HAL op
  set), host functions; :class:`Event` — record / wait / synchronize / query / elapsed_time.
* :class:`DeviceSpec` — peak FLOP/s, bandwidths, latencies, SRAM, an optional
  systolic array (SCALE-Sim analytic GEMM cycles); presets cite their sources.
* :class:`Trace` — one record per command and host span, Chrome trace JSON, dicts, a readable table.
* :class:`MockDriver` — the device as a HAL driver ("mock"): ``halkit.hal.use("mock")``,
  ``hal.to_device(x, "mock")``, ``HALKIT_BACKEND=mock`` run everything above the HAL on it.

This package never imports torch.
"""
from __future__ import annotations

import os
import threading

from halkit.hal.errors import BufferFreedError, DeviceError, HostAccessError, OutOfMemoryError, StreamError

from .device import Device
from .driver import MockDriver
from .memory import Buffer, PinnedBuffer
from .spec import PRESETS, Cost, DeviceSpec, SystolicArray, preset, systolic_gemm_cycles
from .stream import Event, Stream
from .trace import Trace, TraceRecord

#: Presets of the devices ``devices()`` creates, device 0 first; override with
#: HALKIT_MOCK_DEVICES="edge-npu,a100-pcie" (comma-separated preset names).
DEFAULT_DEVICES = ("a100-pcie", "edge-npu")

_devices: list[Device] | None = None
_lock = threading.Lock()


def devices() -> list[Device]:
    """The process's mock devices (created on first call, one per preset in $HALKIT_MOCK_DEVICES)."""
    global _devices
    with _lock:
        if _devices is None or any(d.closed for d in _devices):
            names = os.environ.get("HALKIT_MOCK_DEVICES", "").strip()
            presets = [n.strip() for n in names.split(",") if n.strip()] if names else list(DEFAULT_DEVICES)
            old = {d.name: d for d in (_devices or []) if not d.closed}
            _devices = [old.get(f"mock:{i}") or Device(p, name=f"mock:{i}") for i, p in enumerate(presets)]
        return list(_devices)


def get_device(index: int = 0) -> Device:
    """Device ``index`` of ``devices()``."""
    found = devices()
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(found):
        raise DeviceError(f"no mock device {index!r}: there are {len(found)} ({[d.name for d in found]})")
    return found[index]


def _reset_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_in_child)

__all__ = [
    "Device", "Buffer", "PinnedBuffer", "Stream", "Event", "DeviceSpec", "SystolicArray", "Cost", "Trace",
    "TraceRecord", "PRESETS", "preset", "systolic_gemm_cycles", "devices", "get_device", "MockDriver",
    "DeviceError", "OutOfMemoryError", "BufferFreedError", "HostAccessError", "StreamError",
]
