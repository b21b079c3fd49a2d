"""halkit.runtime — the graph compiler: which nodes run on the HAL, fused how, scheduled where.

``torch.compile(model, backend="halkit")`` works once this package is imported
(or through the ``torch_dynamo_backends`` entry point without any import);
``halkit.runtime.compile(model, example_inputs)`` returns the compiled model
and a :class:`CompileReport` (each node's placement and why, the partitions,
the fusions, the modelled time). Pipeline per aten graph: capability →
CapabilityBasedPartitioner → placement policy → split → lowering to
``torch.ops.halkit`` → fusion passes → scheduler.
"""
from .backend import compile, halkit_backend, last_report, make_backend, register
from .cost import CostModel, SpecCostModel, host_cost_model
from .devices import Device, devices, get_device
from .placement import NodePlacement, PlacementPolicy
from .report import CompileReport, GraphReport, PartitionReport

register()

__all__ = [
    "compile", "halkit_backend", "last_report", "make_backend", "register",
    "CostModel", "SpecCostModel", "host_cost_model", "Device", "devices", "get_device",
    "NodePlacement", "PlacementPolicy", "CompileReport", "GraphReport", "PartitionReport",
]
