"""Placement targets: where a node of a compiled graph can run, what it runs there, and at what price.

Every HAL driver that loads is a target, described by nothing but what it
declares (``driver.capabilities()``: ops, dtypes, memory, host memory or
behind a link, its :class:`~halkit.hal.DeviceSpec`), so a driver registered
tomorrow is placed correctly with no change here. The fallback target "cpu"
is torch itself on the host, priced by :func:`halkit.hal.host_spec`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from halkit import hal

#: the name of torch's own CPU execution, the target of every node the HAL does not take
CPU = "cpu"


@dataclass(frozen=True, eq=False)
class Target:
    name: str  # "cpu" or a HAL driver's registered name
    driver: hal.Driver | None  # None for torch on the host CPU
    caps: hal.Capabilities

    @property
    def spec(self) -> hal.DeviceSpec:
        """The cost model every duration on this target comes from."""
        return self.caps.cost

    @property
    def host_memory(self) -> bool:
        """Reads host memory directly: nothing crosses a link."""
        return self.caps.host_memory

    @property
    def ops(self) -> frozenset:
        return self.caps.ops

    def supports(self, op: str, dtype) -> bool:
        return self.caps.supports(op, np.dtype(str(dtype).removeprefix("torch.")))

    def describe(self) -> str:
        """One line a person reads: where its memory is, its link, what it runs, its cost model."""
        if self.driver is None:
            return f"{self.name}: torch on the host CPU (priced as {self.spec.name!r})"
        link = self.caps.link
        where = "host memory (no transfers)" if link is None else (
            f"behind a link ({link.h2d_bandwidth / 1e9:.3g} GB/s up, {link.d2h_bandwidth / 1e9:.3g} GB/s down, "
            f"{link.latency * 1e6:.3g} µs latency)")
        extra = {}  # per-op dtypes, grouped: "gemm, cast, copy_strided also bfloat16"
        for op, names in self.caps.op_dtypes.items():
            extra.setdefault("/".join(names), []).append(op)
        extras = "".join(f" ({', '.join(ops)} also {names})" for names, ops in extra.items())
        return (f"{self.name}: {where}; {len(self.ops)} ops at {'/'.join(self.caps.dtypes)}{extras}; "
                f"cost model {self.spec.name!r}")

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"<Target {self.describe()}>"


def cpu() -> Target:
    """torch on the host: runs every aten op, computes in host memory, priced by ``hal.host_spec()``."""
    caps = hal.Capabilities(ops=frozenset(), dtypes=("float32", "float64"), memory_bytes=0, host_memory=True,
                            cost=hal.host_spec(CPU))
    return Target(CPU, None, caps)


def of_driver(driver: hal.Driver, name: str | None = None) -> Target:
    """The target of a driver registered as ``name`` (default: the driver's own name)."""
    return Target(name or driver.name, driver, driver.capabilities())


def targets() -> list[Target]:
    """Every target a graph can be placed on now: "cpu" first, then each HAL driver that loads."""
    found = [cpu()]
    for name in hal.backends():
        try:
            found.append(of_driver(hal.get_backend(name), name))
        except hal.HalError:  # listed, but it cannot start now (e.g. a remote device that went away)
            continue
    return found


def get_target(where=None) -> Target:
    """A Target from a name ("cpu", a driver's name), a driver, a Target, or None: the calling thread's
    current HAL driver (``hal.use``)."""
    if isinstance(where, Target):
        return where
    if isinstance(where, hal.Driver):
        return of_driver(where)
    if where is None:
        return of_driver(hal.get_backend(hal.current_backend()))
    if where == CPU:
        return cpu()
    if not isinstance(where, str):
        raise TypeError(f"device must be a target name, a halkit.hal.Driver, a Target or None, got "
                        f"{type(where).__name__}")
    try:
        return of_driver(hal.get_backend(where), where)
    except hal.BackendUnavailableError as exc:
        raise ValueError(f"unknown device {where!r}: available are {[t.name for t in targets()]} ({exc})") from None


def host_driver_name() -> str:
    """A HAL driver computing in host memory, for torch.ops.halkit nodes that run on the CPU: the calling thread's
    current one if it is, else the first registered one that is (every installation has at least one)."""
    current = hal.current_backend()
    if hal.get_backend(current).capabilities().host_memory:
        return current
    for name in hal.backends():
        try:
            if hal.get_backend(name).capabilities().host_memory:
                return name
        except hal.HalError:
            continue
    raise hal.BackendUnavailableError("no HAL driver computes in host memory")
