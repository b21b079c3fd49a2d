"""The pipeline for one aten graph: partition → lower → fuse → price (dry run) → place → install, and its report."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.fx import GraphModule, Node

from halkit import hal

from . import clones, folding, fusion, lowering, partition, placement, timeline
from .dryrun import DryRun, dry_run
from .program import DeviceBoundary, HostBoundary, Program
from .report import GraphReport, PartitionReport
from .targets import host_driver_name


class HalPartition(torch.nn.Module):
    """One compiled partition, called by the top-level graph: its Program run on its target."""

    def __init__(self, graph: GraphModule, program: Program, target, static: frozenset, on_device: frozenset,
                 device_outputs: frozenset):
        super().__init__()
        self.graph_module = graph  # the lowered graph, for reading and pictures
        self.program, self.target = program, target
        self.static, self.device_outputs = static, device_outputs
        self.device_mode = not target.host_memory or bool(on_device) or bool(device_outputs)
        self._host_boundary = HostBoundary(program)  # stateless: one serves every call

    def forward(self, *args):
        with hal.use(self.target.name):
            if self.device_mode:
                boundary = DeviceBoundary(self.program, self.target.driver, self.static, self.device_outputs)
            else:
                boundary = self._host_boundary
            out = self.program(boundary, args)
        return out[0] if self.program.single_output else out


class Runnable:
    """The compiled graph: CPU nodes in torch — torch.ops.halkit nodes among them on a HAL driver in host memory,
    never through a device — and each partition on its target."""

    def __init__(self, split: GraphModule, host_driver: str):
        self.split, self.host_driver = split, host_driver

    def __call__(self, *args):
        with hal.use(self.host_driver):
            return self.split(*args)


@dataclass
class _Candidate:
    nodes: list
    graph: GraphModule  # lowered and fused
    placeholders: list  # names of its placeholders before lowering (to match a re-split)
    program: Program
    static: frozenset
    on_device: frozenset
    device_outputs: frozenset
    run: DryRun
    fusions: dict
    why_not: str | None


def _kernel_label(node: Node) -> str:
    """A kernel as the report names it, its fused activation in brackets."""
    name = lowering.kernel_name(node)
    position = {"linear": 3, "conv2d": 7}.get(name)
    activation = node.args[position] if position is not None and len(node.args) > position else None
    return f"{name}[{activation}]" if activation else name


def _tensor_device(node: Node) -> str | None:
    value = node.meta.get("val")
    return value.device.type if isinstance(value, torch.Tensor) else None


def _build(split: GraphModule, index: int, nodes: list, target, policy, static_names: set[str]) -> _Candidate:
    name = f"{partition.PREFIX}{index}"
    sub = getattr(split, name)
    call = next(n for n in split.graph.nodes if n.op == "call_module" and n.target == name)
    placeholders = [n for n in sub.graph.nodes if n.op == "placeholder"]
    static_idx = frozenset(i for i, a in enumerate(call.args) if isinstance(a, Node) and a.name in static_names)
    static_sub = {placeholders[i].name for i in static_idx}
    on_device = frozenset(i for i, p in enumerate(placeholders) if _tensor_device(p) == "halkit")
    lowering.lower(sub, target)
    fusions = fusion.run_passes(sub, static_sub)
    program = Program(sub, static_sub)
    outputs = program.output_node.args[0]
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    device_outputs = frozenset(i for i, o in enumerate(outputs) if isinstance(o, Node) and _tensor_device(o) == "halkit")
    run = dry_run(program, target, static_idx, on_device, device_outputs)
    compute_ops = sum(map(partition.is_compute, nodes))
    return _Candidate(nodes, sub, [p.name for p in placeholders], program, static_idx, on_device, device_outputs, run,
                      fusions, placement.why_not(compute_ops, run, target, policy))


def _copy(gm: GraphModule) -> GraphModule:
    """A copy of gm's graph (node names and metadata kept, traced values shared, not deep-copied)."""
    graph = torch.fx.Graph()
    graph.output(graph.graph_copy(gm.graph, {}))
    return GraphModule(gm, graph)


def compile_graph(gm: GraphModule, target, policy, kind: str, static_names: set[str]):
    """(the runnable partitioned graph, its GraphReport); static_names names the placeholders holding parameters
    and buffers (resident on a device, folded once per version)."""
    folded = folding.fold_batch_norms(gm, static_names) if kind == "inference" else set()
    static_names = static_names | folded  # folded weights are as static as the parameters they come from
    dropped = clones.drop_clones(gm)
    partition.copy_input_views(gm)
    pristine = _copy(gm)  # to split again when some candidates stay on the CPU
    order = [(n.name, placement.aten_name(n)) for n in gm.graph.nodes if n.op == "call_function"]
    inputs = [n.name for n in gm.graph.nodes if n.op == "placeholder" and n.name not in static_names
              and isinstance(n.meta.get("val"), torch.Tensor)]
    edges = [(a.name, n.name) for n in gm.graph.nodes if n.op == "call_function"
             for a in n.all_input_nodes if a.op == "call_function" or a.name in inputs]
    candidates = partition.propose(gm, target, lambda node: placement.keeps(node, target, policy))
    claimed = {n.name for nodes in candidates for n in nodes}
    reasons = {n.name: (placement.hal_reason if n.name in claimed else placement.cpu_reason)(n, target, policy)
               for n in gm.graph.nodes if n.op == "call_function"}  # read before the split rewires the nodes
    split = partition.split(gm, candidates)
    built = [_build(split, i, nodes, target, policy, static_names) for i, nodes in enumerate(candidates)]
    accepted = [c for c in built if c.why_not is None]
    if len(accepted) < len(built):  # split again with the partitions that pay; the others stay in torch
        by_name = {n.name: n for n in pristine.graph.nodes}
        split = partition.split(pristine, [[by_name[n.name] for n in c.nodes] for c in accepted])
    placements, reports, parts = {}, [], {}
    fusions = dict.fromkeys((p.__name__ for p in fusion.PASSES), 0) | {"fold_batch_norm": len(folded) // 2,
                                                                       "drop_clones": dropped}
    for index, candidate in enumerate(accepted):
        name = f"{partition.PREFIX}{index}"
        fresh = [n.name for n in getattr(split, name).graph.nodes if n.op == "placeholder"]
        if fresh != candidate.placeholders:
            raise AssertionError(f"re-split {name} takes {fresh}, the priced one {candidate.placeholders}")
        setattr(split, name, HalPartition(candidate.graph, candidate.program, target, candidate.static,
                                          candidate.on_device, candidate.device_outputs))
        parts[name] = (target, candidate.run)
        for pass_name, count in candidate.fusions.items():
            fusions[pass_name] += count
        for node in candidate.nodes:
            placements[node.name] = placement.NodePlacement(node.name, placement.aten_name(node), name,
                                                            reasons[node.name])
        reports.append(_partition_report(name, candidate, target, placed=True, measured=policy.measures(target)))
    rejected = []
    for i, candidate in enumerate(c for c in built if c.why_not is not None):
        for node in candidate.nodes:
            placements[node.name] = placement.NodePlacement(node.name, placement.aten_name(node), "cpu",
                                                            candidate.why_not)
        rejected.append(_partition_report(f"candidate {i}", candidate, target, placed=False))
    split.recompile()
    spans, total = timeline.schedule(split, parts, hal.host_spec())
    nodes = [placements.get(name) or placement.NodePlacement(name, op, "cpu", reasons[name]) for name, op in order]
    report = GraphReport(kind, target.name, target.describe(), nodes, reports, rejected, fusions, spans, total, split,
                         edges, inputs)
    return Runnable(split, host_driver_name()), report


def _partition_report(name, candidate: _Candidate, target, placed: bool, measured: bool = False) -> PartitionReport:
    run = candidate.run
    kernels = tuple(_kernel_label(n) for n in candidate.graph.graph.nodes if lowering.kernel_name(n))
    return PartitionReport(
        name=name, target=target.name, placed=placed, host_memory=target.host_memory, kernels=kernels,
        aten_nodes=len(candidate.nodes), compute_ops=sum(map(partition.is_compute, candidate.nodes)),
        launches=len(run.kernels), kernel_s=run.kernel_s, transfer_s=run.transfer_s, bytes_in=run.bytes_in,
        bytes_out=run.bytes_out, resident_bytes=run.resident_bytes, cpu_s=run.cpu_s,
        prologue_s=sum(c.device.seconds for c in run.prologue), reason=candidate.why_not, measured=measured)
