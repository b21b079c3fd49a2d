"""The modelled timeline of one call of a partitioned graph, placed by THE scheduler (``hal.schedule``).

The host runs the graph in order, one node at a time; torch's CPU nodes take
what ``hal.host_spec()`` prices them at. A partition on a target in host
memory runs its kernels on the host too. A partition on a device behind a
link issues its commands — the ones its dry run recorded: uploads, kernels,
downloads — to the device's stream as the device sees them: in order, each
starting when the stream, its engine (``EngineSchedule``: h2d, compute, d2h)
and its issue time allow, with the same DeviceSpec prices; a download into
host memory makes the host wait. That is the mock device's own rule, so the
modelled time of a partition equals its trace.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
from torch.fx import GraphModule, Node
from torch.fx.experimental.symbolic_shapes import optimization_hint

from halkit import hal
from halkit.hal.schedule import EngineSchedule

from .capability import is_layout, val

aten = torch.ops.aten
_LANES = {"h2d": "h2d", "d2h": "d2h", "kernel": "device"}


@dataclass(frozen=True)
class Span:
    lane: str  # "host", "h2d", "device", "d2h"
    name: str
    start: float
    end: float


def concrete(shape) -> tuple[int, ...]:
    """A shape with every symbolic size replaced by its hint (no guard is added)."""
    return tuple(optimization_hint(d, fallback=1) for d in shape)


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def cpu_seconds(node: Node, spec: hal.DeviceSpec) -> float:
    """First-order seconds of an aten node run by torch on the host: GEMM-shaped ops by ``gemm_cost``, the rest
    on the roofline at one FLOP per output element, every operand read and written once."""
    if node.op != "call_function" or is_layout(node) or node.target is operator.getitem:
        return 0.0
    outputs = _tensors(val(node))
    if not outputs:
        return 0.0
    inputs = [t for a in node.all_input_nodes for t in _tensors(val(a))]
    dtype = outputs[0].dtype if outputs[0].dtype in (torch.float32, torch.float64) else torch.float32
    dtype = str(dtype).removeprefix("torch.")
    nbytes = sum(math.prod(concrete(t.shape)) * t.element_size() for t in (*inputs, *outputs))
    out = concrete(outputs[0].shape)
    if node.target in (aten.mm.default, aten.addmm.default, aten.bmm.default) and len(inputs) >= 2:
        a = concrete(inputs[-2].shape)
        return spec.gemm_cost(math.prod(out[:-1]), a[-1], out[-1], dtype, extra_bytes=nbytes).seconds
    if node.target is aten.convolution.default:
        w = concrete(inputs[1].shape)
        groups = max(int(node.args[8]), 1)
        return spec.gemm_cost(math.prod(out) // max(out[1], 1), math.prod(w[1:]), out[1] // groups, dtype,
                              extra_bytes=nbytes, batch=groups).seconds
    return spec.kernel_cost(float(math.prod(out)), nbytes, dtype).seconds


def schedule(split: GraphModule, partitions: dict, host_spec: hal.DeviceSpec):
    """(spans, total seconds) of one steady-state call. ``partitions`` maps a submodule name to (target, DryRun)."""
    host = EngineSchedule()  # the host CPU: the "compute" engine of the machine the graph runs on
    devices: dict[str, list] = {}  # target name -> [its EngineSchedule, its stream's clock]
    ready: dict[Node, float] = {}
    clock = 0.0  # the host thread: it runs one node after another
    spans: list[Span] = []
    for node in split.graph.nodes:
        inputs = max((ready.get(a, 0.0) for a in node.all_input_nodes), default=0.0)
        if node.op == "call_module" and node.target in partitions:
            target, run = partitions[node.target]
            if target.host_memory:
                t = max(clock, inputs)
                for command in run.kernels:
                    start, t = host.place("compute", t, command.device.seconds)
                    spans.append(Span("host", f"{node.target}.{command.name}", start, t))
                ready[node] = clock = t
                continue
            engines, stream = devices.setdefault(target.name, [EngineSchedule(), 0.0])
            issue = max(clock, inputs)
            for command in run.commands:
                start, end = engines.place(command.device.engine, max(stream, issue), command.device.seconds)
                stream = end
                spans.append(Span(_LANES[command.kind], f"{node.target}.{command.name}", start, end))
                if command.kind == "d2h":
                    issue = end  # a download into host memory: the host waits for it
            devices[target.name][1] = stream
            clock = issue
            ready[node] = stream
        elif node.op == "call_function":
            seconds = cpu_seconds(node, host_spec)
            start, end = host.place("compute", max(clock, inputs), seconds) if seconds else (max(clock, inputs),) * 2
            if seconds:
                spans.append(Span("host", node.name, start, end))
            ready[node] = clock = end
        else:
            ready[node] = inputs
    total = max([clock, *(s.end for s in spans)], default=0.0)
    return spans, total
