"""Batch norm folded into the convolution before it, in inference graphs, before anything is placed.

``conv(x, w, b)`` followed by an inference batch norm (running statistics γ, β,
mean, var) is one convolution with ``w' = w·γ/√(var+eps)`` per output channel and
``b' = (b − mean)·γ/√(var+eps) + β``. The graph computes w', b' in a node of its
own (:func:`fold_conv_batch_norm`) that depends on parameters and buffers only
and caches its result per parameter version, so the fold runs once per weight
update, wherever the convolution is placed: torch on the CPU runs one conv
instead of conv + batch norm, and on a device the folded weights are as
resident as the originals (``halkit.torch.params``: keyed by the same version).
Only inference graphs are rewritten: in training the batch statistics are used
and the backward needs the unfolded values.
"""
from __future__ import annotations

import operator

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten

#: id of a convolution's weight -> (versions of the inputs it was folded from, (w', b'))
_folded: dict = {}


def _version(t) -> tuple | None:
    return None if t is None else (id(t), t._version, t.data_ptr())


def fold_conv_batch_norm(weight, bias, mean, var, gamma, beta, eps):
    """(w', b'): the convolution (weight, bias) followed by an inference batch norm, as one convolution."""
    key = tuple(map(_version, (weight, bias, mean, var, gamma, beta)))
    cached = _folded.get(id(weight))
    if cached is None or cached[0] != key:
        with torch.no_grad():
            factor = torch.rsqrt(var + eps) * (1 if gamma is None else gamma)
            new_weight = weight * factor.reshape(-1, *([1] * (weight.dim() - 1)))
            new_bias = ((-mean) if bias is None else (bias - mean)) * factor + (0 if beta is None else beta)
        cached = _folded[id(weight)] = (key, (new_weight, new_bias))
    return cached[1]


def _static(node, static: set[str]) -> bool:
    return node is None or (isinstance(node, Node) and node.op == "placeholder" and node.name in static)


def fold_batch_norms(gm: GraphModule, static: set[str]) -> set[str]:
    """Rewrite every convolution → inference batch norm of parameters/buffers in gm; returns the names of the nodes
    holding folded weights (as static as the parameters they come from)."""
    graph, made = gm.graph, set()
    for bn in list(graph.nodes):
        if bn.target is not aten._native_batch_norm_legit_no_training.default:
            continue
        conv, gamma, beta, mean, var, momentum, eps = bn.args
        if getattr(conv, "target", None) is not aten.convolution.default or len(conv.users) != 1:
            continue
        x, weight, bias = conv.args[:3]
        users = list(bn.users)
        if not all(_static(n, static) for n in (weight, bias, mean, var, gamma, beta)) or \
                not all(u.target is operator.getitem and u.args[1] == 0 for u in users):
            continue
        with graph.inserting_before(conv):
            folded = graph.call_function(fold_conv_batch_norm, (weight, bias, mean, var, gamma, beta, eps))
            folded.meta["val"] = (weight.meta["val"], mean.meta["val"])
            parts = []
            for i in range(2):
                parts.append(graph.call_function(operator.getitem, (folded, i)))
                parts[-1].meta["val"] = folded.meta["val"][i]
        conv.args = (x, *parts, *conv.args[3:])
        for user in users:
            user.replace_all_uses_with(conv)
            graph.erase_node(user)
        graph.erase_node(bn)
        made |= {p.name for p in parts}
    if made:
        graph.eliminate_dead_code()
        gm.recompile()
    return made
