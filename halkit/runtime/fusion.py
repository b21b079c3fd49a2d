"""Fusion passes over a lowered partition: one function per pattern, each returns how often it fired.

Each pass removes HAL launches for real — it never just relabels them:

* ``matmul`` [→ views] → ``add_bias``  ⇒  one ``linear`` (bias in the GEMM);
* ``linear`` → relu/gelu  ⇒  ``linear`` with the activation in the GEMM's epilogue;
* ``scale`` → ``scale``  ⇒  one ``scale``; ``add(a, scale(b, s))``  ⇒  ``add(a, b, alpha=s)``.

Every pass rewrites only when the intermediate it removes has no other user,
so a value the backward pass saved (e.g. gelu's input) is never lost. A
reshape between the two ops (aot_autograd's views around a 3-D linear) does
not block a fusion: element-wise work commutes with a view.
"""
from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

from . import kernels
from .capability import shape_equal, val
from .lowering import kernel_name

aten = torch.ops.aten
_VIEWS = (aten.view.default, aten._unsafe_view.default, aten.reshape.default)
_ACTIVATIONS = ("relu", "gelu")


def _producer_through_views(node: Node) -> Node:
    """The first non-view node behind node, walking back over single-user views."""
    while node.op == "call_function" and node.target in _VIEWS and len(node.users) == 1:
        node = node.args[0]
    return node


def _finish(gm: GraphModule, count: int) -> int:
    if count:
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return count


def _views_between(start: Node, end: Node) -> list[Node]:
    """The view nodes from start's user to end, in order (empty when end is start)."""
    chain = []
    while end is not start:
        chain.append(end)
        end = end.args[0]
    return chain[::-1]


def fuse_matmul_add(gm: GraphModule, static: set[str]) -> int:
    """matmul(a, b) [→ views] → add_bias(·, bias)  ⇒  linear(a, bᵀ, bias) [→ views]."""
    count = 0
    for add in list(gm.graph.nodes):
        if kernel_name(add) != "add_bias":
            continue
        x, bias = add.args
        mm = _producer_through_views(x)
        if kernel_name(mm) != "matmul" or len(mm.users) != 1 or mm.args[2:] not in ((), (False, False)):
            continue
        views = _views_between(mm, x)
        if not all(shape_equal(val(v).shape[-1:], val(mm).shape[-1:]) for v in views):
            continue  # a view that moves the last axis would misalign the bias
        a, b = mm.args[:2]
        with gm.graph.inserting_before(add):  # the bias may be defined after the matmul
            w = gm.graph.call_function(aten.t.default, (b,))
            w.meta["val"] = val(b).t()
            linear = gm.graph.call_function(kernels.target("linear"), (a, w, bias, None))
        linear.meta.update(mm.meta)
        previous = linear
        for view in views:  # re-home the views after the linear that now feeds them
            previous.append(view)
            previous = view
        (views[0] if views else add).replace_input_with(mm, linear)
        add.replace_all_uses_with(views[-1] if views else linear)
        gm.graph.erase_node(add)
        gm.graph.erase_node(mm)
        count += 1
    return _finish(gm, count)


def fuse_linear_activation(gm: GraphModule, static: set[str]) -> int:
    """linear(x, w, b) [→ views] → relu/gelu  ⇒  linear(x, w, b, activation) — one GEMM with its epilogue."""
    count = 0
    for act in list(gm.graph.nodes):
        name = kernel_name(act)
        if name not in _ACTIVATIONS:
            continue
        producer = _producer_through_views(act.args[0])
        if kernel_name(producer) != "linear" or len(producer.users) != 1 or producer.args[3:] not in ((), (None,)):
            continue
        producer.args = (*producer.args[:3], name)
        act.replace_all_uses_with(act.args[0])
        gm.graph.erase_node(act)
        count += 1
    return _finish(gm, count)


def fuse_scales(gm: GraphModule, static: set[str]) -> int:
    """scale(scale(x, a, b), c, d)  ⇒  scale(x, a·c, b·c + d);  add(u, scale(v, s, 0), α)  ⇒  add(u, v, α·s)."""
    count = 0
    for node in list(gm.graph.nodes):
        name = kernel_name(node)
        if name == "scale":
            inner = node.args[0]
            if kernel_name(inner) == "scale" and len(inner.users) == 1:
                (x, a, b), (c, d) = inner.args[:3], node.args[1:3]
                node.args = (x, a * c, b * c + d)
                gm.graph.erase_node(inner)
                count += 1
        elif name == "add":
            u, v = node.args[:2]
            alpha = node.args[2] if len(node.args) > 2 else 1.0
            if kernel_name(v) == "scale" and len(v.users) == 1 and v.args[2] == 0 and \
                    shape_equal(val(v.args[0]).shape, val(node).shape):
                node.args = (u, v.args[0], alpha * v.args[1])
                gm.graph.erase_node(v)
                count += 1
    return _finish(gm, count)


#: the passes in the order they run (matmul+add first, so its linear can take an activation next).
PASSES = (fuse_matmul_add, fuse_linear_activation, fuse_scales)


def run_passes(gm: GraphModule, static: set[str] = frozenset()) -> dict[str, int]:
    """Apply every pass to gm (``static``: the placeholders holding parameters/buffers); {pass name: times fired}."""
    return {p.__name__: p(gm, static) for p in PASSES}
