"""Cutting a graph into partitions with torch's own CapabilityBasedPartitioner.

The partitioner groups the nodes :class:`~halkit.runtime.capability.HalSupport`
claims into the largest cycle-free groups; layout ops are glue it may keep
inside a group but strips from a group's edges, and a group with no compute
left is dropped. A view of a graph input (``w.t()`` of a weight) is pulled back
into the group that reads it, so the input itself — a parameter that stays
resident on the device — is what crosses the edge. ``split`` then turns each
group into a submodule called by the top-level graph (``fuse_by_partitions``),
named ``hal_<i>``.
"""
from __future__ import annotations

import operator

import torch

from torch.fx import GraphModule, Node
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.utils.fuser_utils import fuse_by_partitions

from .capability import LAYOUT_OPS, HalSupport, is_layout, qualified_names

PREFIX = "hal_"


def is_compute(node: Node) -> bool:
    return node.op == "call_function" and not is_layout(node) and node.target is not operator.getitem


def _input_view(node: Node) -> bool:
    """A layout op on a float graph input, directly or through other layout ops (a view of integer indices stays
    outside: only float arrays have a device layout op)."""
    value = node.meta.get("val")
    if not (isinstance(value, torch.Tensor) and value.dtype.is_floating_point):
        return False
    while is_layout(node):
        node = node.args[0]
    return node.op == "placeholder"


def copy_input_views(gm: GraphModule) -> None:
    """Give each user of a shared view of a graph input its own copy of the view (views cost nothing), so every
    partition can take the view in and read the input itself."""
    graph = gm.graph
    for node in list(graph.nodes):
        if not (is_layout(node) and _input_view(node)) or len(node.users) < 2:
            continue
        for user in list(node.users)[1:]:
            with graph.inserting_before(user):
                twin = graph.node_copy(node)
            user.replace_input_with(node, twin)
    gm.recompile()


def propose(gm: GraphModule, target, keep=None) -> list[list[Node]]:
    """The candidate partitions of gm for ``target`` (each a topologically ordered node list); ``keep(node)``
    may veto a supported compute node."""
    partitioner = CapabilityBasedPartitioner(
        gm, HalSupport(target, keep), allows_single_node_partition=True, non_compute_ops=qualified_names(LAYOUT_OPS)
    )
    partitions = partitioner.propose_partitions()
    partitioner.remove_bookend_non_compute_ops(partitions)
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    found = []
    for partition in partitions:
        nodes = with_input_views(_with_whole_tuples(set(partition.nodes)))
        if any(is_compute(n) for n in nodes):
            found.append(sorted(nodes, key=order.__getitem__))
    return sorted(found, key=lambda nodes: order[nodes[0]])


def with_input_views(nodes: set[Node]) -> set[Node]:
    """``nodes`` (a partition, or one node being measured) plus the views of graph inputs that only they read,
    which the partition computes on the input itself; ``nodes`` is extended in place and returned."""
    stack = [a for n in nodes for a in n.all_input_nodes]
    while stack:
        node = stack.pop()
        if node not in nodes and is_layout(node) and _input_view(node) and all(u in nodes for u in node.users):
            nodes.add(node)
            stack.extend(node.all_input_nodes)
    return nodes


def _with_whole_tuples(nodes: set[Node]) -> set[Node]:
    """Drop a multi-output node whose getitems are not all in the partition (and those getitems):
    the lowering replaces the tuple by one tensor, which only its own partition may index."""
    for node in list(nodes):
        if node.target is not operator.getitem and any(u.target is operator.getitem for u in node.users):
            if not all(u in nodes for u in node.users):
                nodes -= {node, *node.users}
    return {n for n in nodes if n.target is not operator.getitem or n.args[0] in nodes}


def split(gm: GraphModule, partitions: list[list[Node]]) -> GraphModule:
    """gm with each partition replaced by a call to a submodule named hal_<index in partitions>."""
    if not partitions:
        return gm
    return fuse_by_partitions(gm, [dict.fromkeys(p) for p in partitions], prefix=PREFIX)
