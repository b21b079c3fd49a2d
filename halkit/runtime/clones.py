"""Copies an aot graph makes that nothing needs: ``clone`` nodes whose result could just as well be their input.

aot_autograd decomposes an inactive dropout (``p=0``, or eval mode) into ``clone(x)``: eager returns ``x``
itself, the graph copies it — in BERT five activations per forward, each a full pass over memory. In a
functional graph (no node mutates anything) a clone is observable only through aliasing: the copy is a tensor
of its own where ``x`` may be shared. So a clone is dropped when neither it nor a view of it is an output of
the graph (an output sharing memory with another output or an input is what aot's output handling rules out),
and only from graphs without mutations.
"""
from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

from .capability import is_layout, shape_equal

aten = torch.ops.aten


def _mutates(node: Node) -> bool:
    schema = getattr(node.target, "_schema", None)
    return node.op == "call_function" and schema is not None and schema.is_mutable


def _reaches_output(node: Node) -> bool:
    """Is node, or a view of it (through layout ops), an output of the graph?"""
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        for user in current.users:
            if user.op == "output":
                return True
            if is_layout(user) and user not in seen:
                seen.add(user)
                stack.append(user)
    return False


def _droppable(node: Node) -> bool:
    if node.op != "call_function" or node.target is not aten.clone.default:
        return False
    source, copy = node.args[0].meta.get("val"), node.meta.get("val")
    # the users were traced on the copy's strides: they must be the source's (a clone of a non-dense view is dense)
    same_layout = isinstance(source, torch.Tensor) and isinstance(copy, torch.Tensor) and \
        shape_equal(source.stride(), copy.stride())
    return same_layout and not _reaches_output(node)


def drop_clones(gm: GraphModule) -> int:
    """Remove the clones of gm that nothing observes (see the module doc); returns how many."""
    graph = gm.graph
    if any(_mutates(n) for n in graph.nodes):
        return 0
    dropped = [n for n in graph.nodes if _droppable(n)]
    for node in dropped:
        node.replace_all_uses_with(node.args[0])
        graph.erase_node(node)
    if dropped:
        gm.recompile()
    return len(dropped)
