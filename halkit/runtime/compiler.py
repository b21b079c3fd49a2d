"""The pipeline for one aten graph: partition → place → split → lower → fuse → schedule, plus its report."""
from __future__ import annotations

from torch.fx import GraphModule

from . import fusion, lowering, partition, placement, scheduler, timeline
from .capability import is_layout
from .report import GraphReport, PartitionReport


def _kernel_label(node) -> str:
    op = lowering.hal_op(node)
    if op == "elementwise_chain":
        return "chain[" + "+".join(step for step, _ in node.args[0]) + "]"
    if op in ("linear", "conv2d") and node.args[-1]:
        return f"{op}[{node.args[-1]}]"
    return op


def _resident(gm: GraphModule, weights: set[str]) -> set:
    """The weight placeholders and the views of them (aten.t of a weight is as resident as the weight)."""
    found = set()
    for node in gm.graph.nodes:
        if (node.op == "placeholder" and node.name in weights) or (is_layout(node) and node.args[0] in found):
            found.add(node)
    return found


def compile_graph(gm: GraphModule, device, policy, host_cost, kind: str, resident: set[str]):
    """(the runnable partitioned graph, its GraphReport); resident names the weight placeholders."""
    resident_nodes = _resident(gm, resident)
    resident = {n.name for n in resident_nodes}
    candidates = partition.propose(gm, device)
    accepted, placements = placement.decide(gm, candidates, device, policy, host_cost, resident_nodes)
    order = [node.name for node in gm.graph.nodes if node.op == "call_function"]
    split = partition.split(gm, [nodes for nodes, _ in accepted])

    lowered, fusions, reports = {}, dict.fromkeys((p.__name__ for p in fusion.PASSES), 0), []
    for i, (nodes, est) in enumerate(accepted):
        name = f"{partition.PREFIX}{i}"
        sub = getattr(split, name)
        lowering.lower(sub, device)
        for pass_name, count in fusion.run_passes(sub).items():
            fusions[pass_name] += count
        lowered[name] = sub
        kernels = tuple(_kernel_label(n) for n in sub.graph.nodes if lowering.hal_op(n))
        reports.append(PartitionReport(name, kernels, len(nodes), timeline.partition_kernel_s(sub, device),
                                       est.transfer_s, est.bytes_in, est.bytes_out, est.cpu_s))
    spans, total = timeline.schedule(split, lowered, device, host_cost, resident)
    runnable = scheduler.install(split, lowered, device.backend) if lowered else split
    report = GraphReport(kind, device.name, [placements[n] for n in order], reports, fusions, spans, total, runnable)
    return runnable, report
