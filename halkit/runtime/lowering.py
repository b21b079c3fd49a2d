"""Lowering: rewrite the aten nodes of a HAL partition into calls of HAL kernels.

Runs on a partition submodule after the split, so every node it sees was
claimed by :class:`~halkit.runtime.capability.HalSupport`; the capability
table says which kernel and arguments each aten node becomes.
"""
from __future__ import annotations

import operator

import torch
from torch.fx import GraphModule, Node

from . import kernels
from .capability import RULES, Lowering, Transposed, lowering_for

aten = torch.ops.aten


def _arg(graph, arg):
    if isinstance(arg, Transposed):
        t = graph.call_function(aten.t.default, (arg.node,))
        t.meta["val"] = arg.node.meta["val"].t()
        return t
    return arg


def lower(gm: GraphModule, device) -> int:
    """Replace every claimed aten compute node of gm by its HAL kernel; returns how many."""
    graph, count = gm.graph, 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target not in RULES:
            continue
        lowering = lowering_for(node, device)
        if not isinstance(lowering, Lowering):
            raise AssertionError(f"{node.name} was partitioned to the HAL but cannot be lowered: {lowering}")
        with graph.inserting_before(node):
            new = graph.call_function(kernels.target(lowering.kernel), tuple(_arg(graph, a) for a in lowering.args))
            result = graph.call_function(aten.view.default, (new, lowering.reshape)) if lowering.reshape else new
        out = node.meta.get("val")
        new.meta.update(node.meta, val=out[0] if isinstance(out, (tuple, list)) else out)
        if lowering.reshape:
            result.meta.update(node.meta)
            new.meta["val"] = out.reshape(-1)
        for user in [u for u in node.users if u.target is operator.getitem]:  # native_layer_norm's [0]
            user.replace_all_uses_with(result)
            graph.erase_node(user)
        node.replace_all_uses_with(result)
        graph.erase_node(node)
        count += 1
    gm.recompile()
    return count


def hal_op(node: Node) -> str | None:
    """The HAL op a node of a lowered graph runs (None for layout/glue nodes)."""
    return kernels.name_of(node.target) if node.op == "call_function" else None
