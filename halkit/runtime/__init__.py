"""halkit.runtime — the graph compiler: which nodes run on which device, fused how, at what modelled cost.

``torch.compile(model, backend="halkit")`` works once this package is imported
(or through the ``torch_dynamo_backends`` entry point without any import), and
:func:`last_report` returns what it decided; ``halkit.runtime.compile(model,
example_inputs)`` returns the compiled model and its :class:`CompileReport`
(each node's placement and why, the partitions and the bytes they move, the
fusions, the modelled time). Pipeline per aten graph: capability →
CapabilityBasedPartitioner → lowering to ``torch.ops.halkit`` → fusion → a dry
run of each partition priced by its target's DeviceSpec → placement → the
partitions compiled to run on HAL arrays, intermediates kept on the device.

Targets (:func:`targets`) are "cpu" (torch) and every HAL driver that loads,
each described only by its ``capabilities()``.
"""
from .backend import compile, halkit_backend, last_report, make_backend, register
from .placement import NodePlacement, PlacementPolicy
from .report import CompileReport, GraphReport, PartitionReport
from .targets import Target, get_target, targets

register()

__all__ = [
    "compile", "halkit_backend", "last_report", "make_backend", "register", "Target", "targets", "get_target",
    "NodePlacement", "PlacementPolicy", "CompileReport", "GraphReport", "PartitionReport",
]
