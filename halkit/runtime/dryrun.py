"""Pricing a partition by the commands it really issues: a dry run on a driver that records instead of computing.

The compiled :class:`~halkit.runtime.program.Program` of a partition runs once
at compile time on a :class:`Recorder` — a HAL driver with the target's
capabilities whose launches and copies are only written down (shapes, dtypes,
parameters, bytes). The op API, its decompositions and fallbacks, the layout
copies :func:`~halkit.runtime.views.dense` decides on and the boundary's
uploads and downloads all happen exactly as in a real call, so the list is the
device's command stream for one call. Each command is then priced by the
target's own :class:`~halkit.hal.DeviceSpec` (``op_cost``, ``link_copy_cost``:
the numbers the mock device prices its trace with) and by the host's
(``hal.host_spec()``, what torch on the CPU would take for the same work).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from halkit import hal
from halkit.hal import opset
from halkit.hal.opset import Spec

from . import views


@dataclass(frozen=True)
class Command:
    kind: str  # "h2d", "d2h" or "kernel"
    name: str  # the op, or what was copied
    nbytes: int  # bytes copied (copies) or read + written (kernels)
    device: hal.Cost  # priced by the target's DeviceSpec
    host: hal.Cost  # the same kernel priced by the host's (zero for copies: torch on the CPU copies nothing)
    prologue: bool  # computed once per parameter version, not on every call


def _spec(x):
    if x is None:
        return None
    if isinstance(x, list):
        return [_spec(v) for v in x]
    return Spec(tuple(x.shape), np.dtype(x.dtype))


class Recorder(hal.Driver):
    """A driver that runs nothing: it declares the target's ops and dtypes and writes down each command."""

    name = "dry-run"

    def __init__(self, caps: hal.Capabilities, link: bool):
        self._caps = hal.Capabilities(ops=caps.ops, dtypes=caps.dtypes, memory_bytes=caps.memory_bytes,
                                      host_memory=False, cost=caps.cost)
        self.link = link  # record the boundary's copies (a device behind a link)
        self.commands: list[Command] = []
        self.in_prologue = False
        self._host = hal.host_spec()

    def capabilities(self):
        return self._caps

    def allocate(self, nbytes):
        return bytearray(0)  # a token: nothing is stored

    def free(self, buffer):
        pass

    def _copy(self, kind, name, nbytes):
        if self.link:
            self.commands.append(Command(kind, name, nbytes, self._caps.cost.link_copy_cost(nbytes, kind),
                                         hal.Cost(0.0), self.in_prologue))

    def copy_in(self, dst, src, stream):
        self._copy("h2d", "upload", dst.nbytes)

    def copy_out(self, dst, src, stream):
        dst[...] = 0  # a host fallback computes on these: zeros keep it quiet
        self._copy("d2h", "download", src.nbytes)

    def launch(self, op, outputs, inputs, params, stream):
        ins, outs = [_spec(x) for x in inputs], [_spec(o) for o in outputs]
        self.commands.append(Command("kernel", op, opset.work(op, ins, outs, params).nbytes, self._caps.cost.op_cost(op, ins, outs, params),
                                     self._host.op_cost(op, ins, outs, params), self.in_prologue))

    def create_stream(self):
        return None

    def record(self, stream):
        return None

    def wait(self, stream, event):
        pass

    def query(self, event):
        return True

    def synchronize(self, target=None, timeout=None):
        pass


class DryBoundary:
    """The edge of a partition in a dry run: what a real call would copy across it, recorded."""

    cache_key = None

    def __init__(self, program, recorder: Recorder, static: frozenset, on_device: frozenset,
                 device_outputs: frozenset):
        self.aliased = program.aliased
        self.recorder, self.static, self.on_device, self.device_outputs = recorder, static, on_device, device_outputs
        self.uploaded = self.downloaded = self.resident = 0

    def input(self, value, i):
        if not isinstance(value, Spec):
            return value  # a size
        array = hal.empty(value.shape, value.dtype, self.recorder)
        if not self.recorder.link:
            pass  # host memory: nothing to move
        elif i in self.static:
            self.resident += array.nbytes  # a parameter or buffer: uploaded once, then resident
        elif i not in self.on_device:
            self.uploaded += array.nbytes
            self.recorder.copy_in(array, None, None)
        return array

    def output(self, v, i):
        if v is None or not hasattr(v, "shape"):
            return v
        if i in self.device_outputs:  # left on the device, as a tensor of its own (DeviceBoundary.output)
            return views.copy(v) if i in self.aliased else views.dense(v)
        a = views.dense(v)
        if self.recorder.link:
            self.downloaded += a.nbytes
            self.recorder.copy_out(np.empty(0), a, None)
        return a

    def version_key(self, tensors):
        return None  # a dry run computes the prologue every time, marked as such

    @contextlib.contextmanager
    def prologue(self):
        self.recorder.in_prologue = True
        try:
            yield
        finally:
            self.recorder.in_prologue = False


@dataclass(frozen=True)
class DryRun:
    """The commands of one call of a partition on its target (steady state first, prologue apart)."""

    commands: tuple[Command, ...]
    prologue: tuple[Command, ...]
    bytes_in: int  # uploaded on every call
    bytes_out: int  # downloaded on every call
    resident_bytes: int  # parameters and buffers read in place

    @property
    def kernels(self) -> list[Command]:
        return [c for c in self.commands if c.kind == "kernel"]

    @property
    def kernel_s(self) -> float:
        return sum(c.device.seconds for c in self.kernels)

    @property
    def transfer_s(self) -> float:
        return sum(c.device.seconds for c in self.commands if c.kind != "kernel")

    @property
    def cpu_s(self) -> float:
        """The same kernels on the host CPU (torch would make no copies)."""
        return sum(c.host.seconds for c in self.kernels)


def example_value(node):
    """What a dry run feeds a placeholder: a Spec of its traced tensor (sizes at their hints), or its size."""
    from torch.fx.experimental.symbolic_shapes import optimization_hint

    value = node.meta.get("val")
    if isinstance(value, torch.Tensor):
        shape = tuple(optimization_hint(d, fallback=1) for d in value.shape)
        return Spec(shape, np.dtype(str(value.dtype).removeprefix("torch.")))
    if isinstance(value, torch.SymInt):
        return optimization_hint(value, fallback=1)
    return value


def dry_run(program, target, static: frozenset, on_device: frozenset, device_outputs: frozenset) -> DryRun:
    """Run ``program`` on a Recorder shaped like ``target``: static inputs resident, ``on_device`` inputs already
    on the device, ``device_outputs`` left there."""
    recorder = Recorder(target.caps, link=not target.host_memory)
    boundary = DryBoundary(program, recorder, static, on_device, device_outputs)
    program(boundary, [example_value(p) for p in program.placeholders])
    steady = tuple(c for c in recorder.commands if not c.prologue)
    return DryRun(steady, tuple(c for c in recorder.commands if c.prologue), boundary.uploaded, boundary.downloaded,
                  boundary.resident)
