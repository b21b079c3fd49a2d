"""Attention in its math form, so that its softmax can reach the HAL.

On the CPU, ``F.scaled_dot_product_attention`` dispatches (below autograd, so
no aot decomposition can intercept it) to a fused flash kernel with its own
backward — one opaque node the HAL cannot run. This pass, applied to Dynamo's
graph before aot_autograd, swaps it for softmax(q·kᵀ·scale + mask)·v, whose
forward and backward are ordinary aten ops (``aten._softmax`` among them).
``nn.MultiheadAttention`` reaches Dynamo's graph as one call of
``F.multi_head_attention_forward``; its ``need_weights=True`` branch is that
same math, so the pass asks for it and drops the weights.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.fx import GraphModule

_SDPA = {torch._C._nn.scaled_dot_product_attention, F.scaled_dot_product_attention}
_NEED_WEIGHTS_POSITION = 15  # in F.multi_head_attention_forward's signature


def attention_math(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """Scaled dot-product attention without dropout, written with matmul and softmax."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = torch.matmul(query, key.transpose(-2, -1)) * scale
    if is_causal:
        causal = torch.ones(query.shape[-2], key.shape[-2], dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return torch.matmul(torch.softmax(scores, dim=-1), value)


def multi_head_attention_math(*args, **kwargs):
    """F.multi_head_attention_forward through its explicit-softmax branch; weights returned only if asked."""
    wanted = args[_NEED_WEIGHTS_POSITION] if len(args) > _NEED_WEIGHTS_POSITION else kwargs.get("need_weights", True)
    if len(args) > _NEED_WEIGHTS_POSITION:
        args = (*args[:_NEED_WEIGHTS_POSITION], True, *args[_NEED_WEIGHTS_POSITION + 1:])
    else:
        kwargs["need_weights"] = True
    output, weights = F.multi_head_attention_forward(*args, **kwargs)
    return output, weights if wanted else None


def decompose_attention(gm: GraphModule) -> int:
    """Route a Dynamo graph's attention calls through their math form; returns how many."""
    count = 0
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target is F.multi_head_attention_forward:
            node.target = multi_head_attention_math
        elif node.target in _SDPA:
            dropout = node.args[4] if len(node.args) > 4 else node.kwargs.get("dropout_p", 0.0)
            if dropout != 0.0 or node.kwargs.get("enable_gqa", False):
                continue  # keep the fused op: the math form here has no dropout
            node.target = attention_math
        else:
            continue
        count += 1
    if count:
        gm.recompile()
    return count
