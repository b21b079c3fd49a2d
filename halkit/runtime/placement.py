"""The placement policy: which proposed partitions go to the HAL device, and every node's reason.

A partition goes to the device when it is big enough (``min_partition_size``
compute ops — a guard against ping-pong between devices) and, for a device
behind a link, when the cost model says it pays: modelled kernel time plus
the transfers of its activations in and out must beat running the same nodes
on the CPU. Weights count as resident (uploaded once, then cached), so they
cost no transfer. Devices in host memory (numpy, native) never transfer:
there, supported ⇒ HAL.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.fx import Node
from torch.fx.experimental.symbolic_shapes import optimization_hint

from .capability import Lowering, MultiLowering, is_layout, lowering_for, val
from .partition import is_compute


@dataclass(frozen=True)
class PlacementPolicy:
    #: fewest compute ops a HAL partition may hold; None: 1 in host memory, 2 behind a link.
    min_partition_size: int | None = None
    #: weigh modelled device time (kernels + transfers) against the CPU's for devices behind a link.
    use_cost_model: bool = True

    def min_size(self, device) -> int:
        if self.min_partition_size is not None:
            return self.min_partition_size
        return 1 if device.host_memory else 2


@dataclass(frozen=True)
class NodePlacement:
    node: str
    op: str  # the aten op, e.g. "aten.addmm"
    where: str  # "cpu" or the HAL partition's name (hal_0, ...)
    reason: str


@dataclass(frozen=True)
class Estimate:
    """Modelled seconds of one partition on the device (kernels + transfers) and on the CPU."""

    compute_ops: int
    kernel_s: float
    bytes_in: int
    bytes_out: int
    transfer_s: float
    cpu_s: float

    @property
    def device_s(self) -> float:
        return self.kernel_s + self.transfer_s


def concrete(shape) -> tuple[int, ...]:
    """A shape with every symbolic size replaced by its hint (no guard is added)."""
    return tuple(optimization_hint(d, fallback=1) for d in shape)


def nbytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return math.prod(concrete(value.shape)) * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    return 0


def cost_dtype(dtype: torch.dtype) -> str:
    """The dtype name the cost model prices: float64 as itself, anything else like float32."""
    return "float64" if dtype == torch.float64 else "float32"


def node_time(node: Node, op: str | None, cost) -> float:
    """Modelled seconds of one node under a cost model; op is its HAL op (None: an aten op on the CPU)."""
    out = val(node)
    if is_layout(node):
        return cost.kernel_time("copy", [concrete(out.shape)] * 2, cost_dtype(out.dtype)) if "clone" in str(node.target) else 0.0
    first = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(first, torch.Tensor):
        return 0.0
    inputs = [concrete(val(a).shape) for a in node.all_input_nodes if isinstance(val(a), torch.Tensor)]
    return cost.kernel_time(op or "copy", [*inputs, concrete(first.shape)], cost_dtype(first.dtype))


def estimate(nodes: list[Node], device, host_cost, resident: set[Node]) -> Estimate:
    inside = set(nodes)
    kernel_s = cpu_s = 0.0
    for node in nodes:
        lowering = lowering_for(node, device) if is_compute(node) else None
        op = lowering.kernel if isinstance(lowering, (Lowering, MultiLowering)) else None
        kernel_s += node_time(node, op, device.cost)
        cpu_s += node_time(node, op, host_cost)
    inputs = {a for n in nodes for a in n.all_input_nodes if a not in inside and a not in resident}
    outputs = {n for n in nodes if any(u not in inside for u in n.users)}
    bytes_in = sum(nbytes(val(a)) for a in inputs)
    bytes_out = sum(nbytes(val(n)) for n in outputs)
    transfer_s = sum(device.cost.transfer_time(nbytes(val(v))) for v in (*inputs, *outputs) if nbytes(val(v)))
    return Estimate(sum(map(is_compute, nodes)), kernel_s, bytes_in, bytes_out, transfer_s, cpu_s)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def decide(gm, candidates: list[list[Node]], device, policy: PlacementPolicy, host_cost, resident: set[Node]):
    """(accepted partitions with their estimates, {node name: NodePlacement}) for every call node of gm."""
    accepted, placements = [], {}
    for nodes in candidates:
        est = estimate(nodes, device, host_cost, resident)
        why_not = None
        if est.compute_ops < policy.min_size(device):
            why_not = f"partition of {est.compute_ops} op(s) < min_partition_size {policy.min_size(device)}"
        elif policy.use_cost_model and not device.host_memory and est.device_s >= est.cpu_s:
            why_not = (f"modelled {device.name} {_us(est.device_s)} (transfers {_us(est.transfer_s)}) "
                       f"≥ CPU {_us(est.cpu_s)}")
        if why_not:
            for node in nodes:
                placements[node.name] = NodePlacement(node.name, _aten_name(node), "cpu", why_not)
            continue
        name = f"hal_{len(accepted)}"
        accepted.append((nodes, est))
        for node in nodes:
            placements[node.name] = NodePlacement(node.name, _aten_name(node), name, _hal_reason(node, device))
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.name not in placements:
            placements[node.name] = NodePlacement(node.name, _aten_name(node), "cpu", _cpu_reason(node, device))
    return accepted, placements


def _hal_reason(node: Node, device) -> str:
    if not is_compute(node):
        return "layout/glue op kept inside the partition"
    lowering = lowering_for(node, device)
    kernels = lowering.kernels if isinstance(lowering, MultiLowering) else [lowering.kernel]
    return f"HAL {' + '.join(kernels)} on {device.name}"


def _cpu_reason(node: Node, device) -> str:
    if is_layout(node):
        return "layout op between CPU nodes"
    if not is_compute(node):
        return "glue (tuple access) of a CPU node"
    lowering = lowering_for(node, device)
    return lowering if isinstance(lowering, str) else "supported, but no partition formed around it"


def _aten_name(node: Node) -> str:
    target = node.target
    name = getattr(target, "__name__", str(target))
    if isinstance(target, torch._ops.OpOverload):
        name = f"aten.{target._schema.name.split('::')[-1]}"
    return name
