"""Lowering: rewrite the aten nodes of a partition into calls of kernels.

Runs on a partition submodule after the split, so every node it sees was
claimed by :class:`~halkit.runtime.capability.HalSupport`; the capability
table says which kernel and arguments each aten node becomes. Argument
markers become nodes of their own: a transpose or a broadcast becomes a
layout node (a free view until a kernel needs it dense), a dtype change a
``cast`` kernel.
"""
from __future__ import annotations

import operator

import torch
from torch.fx import GraphModule, Node

from . import kernels
from .capability import RULES, Cast, Expanded, Index, Lowering, Transposed, lowering_for

aten = torch.ops.aten


def _node(graph, target, args, value, meta):
    node = graph.call_function(target, args)
    node.meta.update(meta, val=value)
    return node


def _arg(graph, arg, meta):
    if isinstance(arg, Transposed):
        return _node(graph, aten.t.default, (arg.node,), arg.node.meta["val"].t(), meta)
    if isinstance(arg, Expanded):
        inner = _arg(graph, arg.node, meta)
        return _node(graph, aten.expand.default, (inner, list(arg.shape)), inner.meta["val"].expand(arg.shape), meta)
    if isinstance(arg, Cast):
        inner = _arg(graph, arg.arg, meta)
        return _node(graph, kernels.target("cast"), (inner, arg.dtype), inner.meta["val"].to(arg.dtype), meta)
    if isinstance(arg, Index):
        return arg.node
    if isinstance(arg, list):
        return [_arg(graph, a, meta) for a in arg]
    return arg


def lower(gm: GraphModule, target) -> int:
    """Replace every claimed aten compute node of gm by its kernel; returns how many."""
    graph, count = gm.graph, 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target not in RULES:
            continue
        lowering = lowering_for(node, target)
        if not isinstance(lowering, Lowering):
            raise AssertionError(f"{node.name} was partitioned to {target.name} but cannot be lowered: {lowering}")
        out = node.meta.get("val")
        with graph.inserting_before(node):
            args = tuple(_arg(graph, a, node.meta) for a in lowering.args)
            value = out[lowering.index] if lowering.index is not None else out
            new = _node(graph, kernels.target(lowering.kernel), args, value, node.meta)
        if lowering.index is not None:  # the one output used: its getitem becomes the kernel's result
            for user in [u for u in node.users if u.target is operator.getitem]:
                user.replace_all_uses_with(new)
                graph.erase_node(user)
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        count += 1
    gm.recompile()
    return count


def kernel_name(node: Node) -> str | None:
    """The kernel a node of a lowered graph runs (None for layout/glue nodes)."""
    return kernels.name_of(node.target) if node.op == "call_function" else None
