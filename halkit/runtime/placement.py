"""The placement policy: which proposed partitions run on the target, and every node's reason.

A partition goes to the target when it is big enough (``min_partition_size``
compute ops — a guard against ping-pong between devices) and when the cost
model says it pays: its modelled time there — the kernels priced by the
target's DeviceSpec plus the copies across its link, both taken from a dry
run of the compiled partition — is at most what the same work would take on
the CPU (``hal.host_spec()``). Parameters and buffers are resident (uploaded
once per version), so only activations are charged a transfer. A target in
host memory copies nothing, so there "supported ⇒ target" unless its own
cost model says it is slower than the CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.fx import Node

from . import measure
from .capability import is_layout, lowering_for, lowers
from .dryrun import DryRun
from .partition import is_compute


@dataclass(frozen=True)
class PlacementPolicy:
    #: fewest compute ops a partition may hold; None: 1 in host memory, 2 behind a link.
    min_partition_size: int | None = None
    #: weigh the modelled time on the target (kernels + transfers) against the CPU's.
    use_cost_model: bool = True
    #: on a target in host memory, time each node's HAL kernel against torch and keep the faster (measure.py);
    #: None: whenever the target computes in host memory.
    measure: bool | None = None

    def measures(self, target) -> bool:
        return target.host_memory and self.measure is not False

    def min_size(self, target) -> int:
        if self.min_partition_size is not None:
            return self.min_partition_size
        return 1 if target.host_memory else 2


@dataclass(frozen=True)
class NodePlacement:
    node: str
    op: str  # the aten op, e.g. "aten.addmm"
    where: str  # "cpu" or the partition's name (hal_0, ...)
    reason: str


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def resident_data(run: DryRun, target) -> bool:
    """The partition's data already lives on a device behind a link (tensors of the torch device "halkit"):
    nothing crosses the link, and running it anywhere else would move it."""
    return not target.host_memory and run.bytes_in == run.bytes_out == 0 and bool(run.kernels)


def why_not(compute_ops: int, run: DryRun, target, policy: PlacementPolicy) -> str | None:
    """Why a candidate partition stays on the CPU, or None when it goes to the target."""
    if resident_data(run, target):
        return None
    if compute_ops < policy.min_size(target):
        return f"partition of {compute_ops} op(s) < min_partition_size {policy.min_size(target)}"
    device_s = run.kernel_s + run.transfer_s
    if policy.use_cost_model and device_s > run.cpu_s:
        return (f"modelled on {target.name}: {_us(device_s)} (kernels {_us(run.kernel_s)} + transfers "
                f"{_us(run.transfer_s)}) > CPU {_us(run.cpu_s)}")
    return None


def timing(node: Node, target, policy: PlacementPolicy) -> measure.Timing | None:
    """The measured HAL-vs-torch times of a node the target could take, when the policy measures there. A
    torch.ops.halkit node is not measured: on the CPU it would run the same HAL kernel."""
    if not (policy.measures(target) and is_compute(node) and measure.measurable(node)) or \
            getattr(node.target, "namespace", None) == "halkit" or not lowers(node, target):
        return None
    return measure.timing(node, target)


def keeps(node: Node, target, policy: PlacementPolicy) -> bool:
    """May the target take this (supported) node? Yes unless torch measured faster."""
    found = timing(node, target, policy)
    return found is None or found.hal_wins


def hal_reason(node: Node, target, policy: PlacementPolicy) -> str:
    if not is_compute(node):
        return "layout/glue op kept inside the partition"
    found = timing(node, target, policy)
    return f"HAL {lowering_for(node, target).kernel} on {target.name}" + (f" ({found.describe(target.name)})"
                                                                          if found else "")


def cpu_reason(node: Node, target, policy: PlacementPolicy) -> str:
    if is_layout(node):
        return "layout op between CPU nodes"
    if not is_compute(node):
        return "glue (tuple access) of a CPU node"
    lowering = lowering_for(node, target)
    if isinstance(lowering, str):
        return lowering
    found = timing(node, target, policy)
    if found is not None and not found.hal_wins:
        return f"torch is faster here: {found.describe(target.name)}"
    return "supported, but no partition formed around it"


def aten_name(node: Node) -> str:
    target = node.target
    name = getattr(target, "__name__", str(target))
    if isinstance(target, torch._ops.OpOverload):
        name = f"{target.namespace}.{target._schema.name.split('::')[-1]}"
    return name
