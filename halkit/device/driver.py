"""The mock accelerator as a HAL driver — "mock", a peer of numpy and native under the op API.

Registered through the ``halkit.backends`` entry point exactly as a
third-party device would be, it implements the device contract
(:class:`halkit.hal.Driver`) on a :class:`~halkit.device.Device`::

    capabilities()   every op its host kernels run, the dtypes its spec models, its memory, behind a link,
                     cost = its DeviceSpec (the one cost model)
    allocate/free    untyped byte Buffers in its capacity-checked memory (OutOfMemoryError, also when the
                     host cannot back them); free is stream-ordered and never blocks
    copy_in/out      h2d / d2h copies on its streams, over the modelled link
    launch           an op on the compute engine: host kernels (native when built, else numpy) compute it,
                     ``spec.op_cost`` prices it
    streams/events   its Streams and Events; synchronize(None | stream | event, timeout)

Residency is explicit: ``hal.to_device(w, "mock")`` puts ``w`` in device
memory and ops on DeviceArrays keep their results there, so only what the
caller copies crosses the link — :meth:`MockDriver.stats` shows the bytes.
Without arguments the driver runs on the process's device
``$HALKIT_MOCK_DEVICE`` (default 0, i.e. mock:0).
"""
from __future__ import annotations

import os

import numpy as np

from halkit.hal import Capabilities, Driver, fallback_counts
from halkit.hal.errors import DeviceError

from .device import Device
from .memory import Buffer
from .stream import Event, Stream


class MockDriver(Driver):
    name = "mock"

    def __init__(self, device: Device | None = None, name: str | None = None):
        if device is not None and not isinstance(device, Device):
            raise TypeError(f"device must be a halkit.device.Device or None (the process's mock device), "
                            f"got {type(device).__name__}")
        self._device = device
        self._follows_process_device = device is None
        self._closed = False
        self._capabilities: tuple[Device, Capabilities] | None = None
        self._fallbacks_at_reset = 0
        if name is not None:
            self.name = name

    @property
    def device(self) -> Device:
        """The Device this driver runs on (re-picked from $HALKIT_MOCK_DEVICE if that one was closed)."""
        if self._closed:
            raise DeviceError(f"driver {self.name!r} is closed")
        if self._device is None or (self._follows_process_device and self._device.closed):
            from . import get_device  # the package's device list; imported late (the package imports this module)

            self._device = get_device(_process_device_index())
        return self._device

    # --- what the device is -------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        device = self.device
        if self._capabilities is None or self._capabilities[0] is not device:
            host = device.kernel_backend.capabilities()
            self._capabilities = device, Capabilities(
                ops=host.ops, dtypes=[d for d in device.spec.peak_flops if d in host.dtypes],
                memory_bytes=device.allocator.capacity, host_memory=False, cost=device.spec)
        return self._capabilities[1]

    # --- memory -------------------------------------------------------------------------------------
    def allocate(self, nbytes: int) -> Buffer:
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
            raise ValueError(f"nbytes must be a non-negative int, got {nbytes!r}")
        return self.device.alloc((int(nbytes),), np.uint8)

    def free(self, buffer) -> None:
        if not isinstance(buffer, Buffer):
            raise TypeError(f"buffer must be a Buffer this driver allocated, got {type(buffer).__name__}")
        if self._closed or buffer.device.closed:
            return  # the device is gone, and its memory with it (garbage collection may run late)
        buffer.free()

    # --- transfers ----------------------------------------------------------------------------------
    def copy_in(self, dst, src, stream) -> None:
        self._stream(stream).copy_to_device(dst, src)

    def copy_out(self, dst, src, stream) -> None:
        self._stream(stream).copy_to_host(dst, src, blocking=False)

    # --- compute ------------------------------------------------------------------------------------
    def launch(self, op, outputs, inputs, params, stream) -> None:
        self._stream(stream).launch(op, list(outputs), *inputs, **params)

    # --- ordering -----------------------------------------------------------------------------------
    def create_stream(self) -> Stream:
        return self.device.stream()

    def destroy_stream(self, stream) -> None:
        stream = self._stream(stream)
        if stream is self.device.default_stream:
            raise DeviceError("the default stream belongs to the device: it is released by close()")
        stream.close()

    @property
    def default_stream(self) -> Stream:
        return self.device.default_stream

    def record(self, stream) -> Event:
        return self._stream(stream).record()

    def wait(self, stream, event) -> None:
        self._stream(stream).wait(event)

    def query(self, event) -> bool:
        if not isinstance(event, Event):
            raise TypeError(f"event must be an event this driver recorded, got {type(event).__name__}")
        return event.query()

    def synchronize(self, target=None, timeout=None) -> None:
        if target is None:
            self.device.synchronize(timeout)
        elif isinstance(target, (Stream, Event)):
            target.synchronize(timeout)
        else:
            raise TypeError(f"target must be None (the whole device), a stream or an event, "
                            f"got {type(target).__name__}")

    def close(self) -> None:
        if not self._closed and self._device is not None:
            self._device.close()
        self._closed = True

    # --- what moved ---------------------------------------------------------------------------------
    def stats(self) -> dict:
        """The device's counts (h2d/d2h/d2d copies and bytes, launches, fills, memory used/peak/capacity, live
        buffers) and ``fallbacks``: ops of this driver that ran on the host instead (since reset_stats)."""
        return self.device.stats() | {"fallbacks": self._fallbacks() - self._fallbacks_at_reset}

    def reset_stats(self) -> None:
        self.device.reset_stats()
        self._fallbacks_at_reset = self._fallbacks()

    def _fallbacks(self) -> int:
        return sum(n for (device, _op, kind), n in fallback_counts().items() if device == self.name and kind == "host")

    @property
    def trace(self):
        """The device's Trace (Chrome export, readable table, host spans)."""
        return self.device.trace

    def _stream(self, stream) -> Stream:
        if not isinstance(stream, Stream):
            raise TypeError(f"stream must be a stream of this driver (create_stream(), default_stream), "
                            f"got {type(stream).__name__}")
        if stream.device is not self.device:
            raise DeviceError(f"stream {stream.name!r} belongs to device {stream.device.name!r}, this driver runs "
                              f"on {self.device.name!r}")
        return stream

    def __repr__(self) -> str:
        where = "closed" if self._closed else (self._device.name if self._device is not None else "not started")
        return f"<halkit driver {self.name!r} on {where}>"


def _process_device_index() -> int:
    value = os.environ.get("HALKIT_MOCK_DEVICE", "0").strip() or "0"
    try:
        return int(value)
    except ValueError:
        raise DeviceError(f"HALKIT_MOCK_DEVICE={value!r} is not a device index: set it to 0, 1, ... "
                          "(halkit.device.devices() lists them)") from None
