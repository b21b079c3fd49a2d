"""The device registry: which devices exist, which HAL ops each runs, at which dtypes, at what cost.

"cpu" is torch itself — the fallback that runs every node the HAL cannot. Every
HAL backend that loads is a device too: numpy and native compute in host memory
(no transfers, so placement is "supported ⇒ HAL"); the mock accelerator's
devices (mock:N) sit behind a link and carry their DeviceSpec, so placement
weighs kernel time against transfers there. Every mock:N is priced with its
own spec, but partitions execute through the "mock" HAL backend, i.e. on the
device that backend drives ($HALKIT_MOCK_DEVICE, default mock:0).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from halkit import hal

from . import kernels
from .cost import CostModel, SpecCostModel, host_cost_model

HAL_DTYPES = (torch.float32, torch.float64)


@dataclass(frozen=True)
class Device:
    name: str  # "cpu", "numpy", "native", "mock:0", ...
    backend: str | None  # the HAL backend that runs this device's partitions; None for torch's CPU
    ops: frozenset  # kernel names (halkit.runtime.kernels.NAMES) it can run
    dtypes: tuple  # torch dtypes it computes in
    cost: CostModel
    host_memory: bool  # reads host memory directly: nothing to transfer

    def supports(self, op: str, dtype) -> bool:
        return op in self.ops and dtype in self.dtypes

    def __str__(self) -> str:
        where = "host memory" if self.host_memory else "behind a link"
        dtypes = ", ".join(str(d).replace("torch.", "") for d in self.dtypes)
        return f"{self.name} (HAL backend {self.backend!r}, {where}; {len(self.ops)} ops at {dtypes})"


def _mock_devices() -> list[Device]:
    """One Device per mock accelerator, when halkit.device is installed."""
    try:
        from halkit import device as mock
    except ImportError:
        return []
    if not hasattr(mock, "devices") or "mock" not in hal.backends():
        return []
    found = []
    for dev in mock.devices():
        spec = dev.spec
        dtypes = tuple(d for d in HAL_DTYPES if str(d).replace("torch.", "") in spec.peak_flops)
        found.append(Device(dev.name, "mock", frozenset(kernels.NAMES), dtypes,
                            SpecCostModel(spec), host_memory=False))
    return found


def devices() -> list[Device]:
    """Every device a graph can be placed on now: cpu first, then the HAL backends that load."""
    host = host_cost_model()
    found = [Device("cpu", None, frozenset(), (), host, host_memory=True)]
    for backend in hal.backends():
        if backend != "mock":
            found.append(Device(backend, backend, frozenset(kernels.NAMES), HAL_DTYPES, host, host_memory=True))
    return found + _mock_devices()


def get_device(name: str | None = None) -> Device:
    """The device called name; by default the one behind the calling thread's HAL backend."""
    available = devices()
    if name is None:
        name = hal.current_backend()
        if name == "mock":
            name = next((d.name for d in available if d.backend == "mock"), name)
    for device in available:
        if device.name == name:
            return device
    raise ValueError(f"unknown device {name!r}: available are {[d.name for d in available]}")
