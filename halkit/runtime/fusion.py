"""Fusion passes over a lowered HAL partition: one function per pattern, each returns how often it fired.

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
from .lowering import hal_op

aten = torch.ops.aten
_VIEWS = (aten.view.default, aten._unsafe_view.default, aten.reshape.default)
_ACTIVATIONS = ("relu", "gelu")
_ELEMENTWISE = tuple(kernels.ELEMENTWISE)


def _sole_user(node: Node) -> Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


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


def fuse_matmul_add(gm: GraphModule) -> int:
    """matmul(a, b) [→ views] → add_bias(·, bias)  ⇒  linear(a, bᵀ, bias) [→ views]."""
    count = 0
    for add in list(gm.graph.nodes):
        if hal_op(add) != "add_bias":
            continue
        x, bias = add.args
        mm = _producer_through_views(x)
        if hal_op(mm) != "matmul" or len(mm.users) != 1 or mm.args[2:] not in ((), (False, False)):
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


def _fuse_activation_into(gm: GraphModule, producer_op: str, activations, set_activation) -> int:
    count = 0
    for act in list(gm.graph.nodes):
        name = hal_op(act)
        if name not in activations:
            continue
        producer = _producer_through_views(act.args[0])
        if hal_op(producer) != producer_op or len(producer.users) != 1 or producer.args[-1] is not None:
            continue
        producer.args = set_activation(producer.args, name)
        act.replace_all_uses_with(act.args[0])
        gm.graph.erase_node(act)
        count += 1
    return _finish(gm, count)


def fuse_linear_activation(gm: GraphModule) -> int:
    """linear(x, w, b) [→ views] → relu/gelu  ⇒  linear(x, w, b, activation) — one GEMM with its epilogue."""
    return _fuse_activation_into(gm, "linear", _ACTIVATIONS, lambda args, act: (*args[:3], act))


def fuse_conv_activation(gm: GraphModule) -> int:
    """conv2d(x, w, b, ...) → relu  ⇒  conv2d(..., activation="relu")."""
    return _fuse_activation_into(gm, "conv2d", ("relu",), lambda args, act: (*args[:7], act))


def fuse_elementwise_chains(gm: GraphModule) -> int:
    """Runs of single-user element-wise HAL ops (add, mul, relu, gelu, add_bias)  ⇒  one elementwise_chain."""
    count, fused = 0, set()
    for head in list(gm.graph.nodes):
        if head in fused or hal_op(head) not in _ELEMENTWISE:
            continue
        chain = [head]
        while (user := _sole_user(chain[-1])) is not None and hal_op(user) in _ELEMENTWISE:
            chain.append(user)
        if len(chain) < 2:
            continue
        inputs, program = [], []
        for step in chain:
            refs = []
            for arg in step.args:
                if arg in chain:
                    refs.append(("tmp", chain.index(arg)))
                else:
                    if arg not in inputs:
                        inputs.append(arg)
                    refs.append(("in", inputs.index(arg)))
            program.append((hal_op(step), tuple(refs)))
        tail = chain[-1]
        with gm.graph.inserting_before(tail):
            node = gm.graph.call_function(kernels.target("elementwise_chain"), (tuple(program), *inputs))
        node.meta.update(tail.meta)
        tail.replace_all_uses_with(node)
        for step in reversed(chain):
            gm.graph.erase_node(step)
        fused.update(chain)
        count += 1
    return _finish(gm, count)


#: the passes in the order they run (matmul+add first, so its linear can take an activation next).
PASSES = (fuse_matmul_add, fuse_linear_activation, fuse_conv_activation, fuse_elementwise_chains)


def run_passes(gm: GraphModule) -> dict[str, int]:
    """Apply every pass to gm; {pass name: times it fired}."""
    return {p.__name__: p(gm) for p in PASSES}
