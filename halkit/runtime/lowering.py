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
from .capability import RULES, Lowering, MultiLowering, Permuted, Transposed, lowering_for

aten = torch.ops.aten


def _arg(graph, arg):
    if isinstance(arg, Transposed):
        t = graph.call_function(aten.t.default, (arg.node,))
        t.meta["val"] = arg.node.meta["val"].t()
        return t
    if isinstance(arg, Permuted):
        p = graph.call_function(aten.permute.default, (arg.node, list(arg.dims)))
        p.meta["val"] = arg.node.meta["val"].permute(arg.dims)
        return p
    return arg


def _emit(graph, lowering: Lowering, meta: dict, out):
    """Insert the kernel call for one lowering (+ its reshape); returns the node holding the result."""
    new = graph.call_function(kernels.target(lowering.kernel), tuple(_arg(graph, a) for a in lowering.args))
    new.meta.update(meta, val=out)
    if not lowering.reshape:
        return new
    new.meta["val"] = out.reshape(-1)
    result = graph.call_function(aten.view.default, (new, lowering.reshape))
    result.meta.update(meta, val=out)
    return result


def lower(gm: GraphModule, device) -> int:
    """Replace every claimed aten compute node of gm by its HAL kernel; returns how many."""
    graph, count = gm.graph, 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target not in RULES:
            continue
        lowering = lowering_for(node, device)
        if not isinstance(lowering, (Lowering, MultiLowering)):
            raise AssertionError(f"{node.name} was partitioned to the HAL but cannot be lowered: {lowering}")
        out = node.meta.get("val")
        with graph.inserting_before(node):
            if isinstance(lowering, MultiLowering):  # one kernel per used output, each replacing its getitem
                for user in [u for u in node.users if u.target is operator.getitem]:
                    user.replace_all_uses_with(_emit(graph, lowering.parts[user.args[1]], node.meta, out[user.args[1]]))
                    graph.erase_node(user)
            else:
                result = _emit(graph, lowering, node.meta, out[0] if isinstance(out, (tuple, list)) else out)
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
