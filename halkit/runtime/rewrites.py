"""Rewrites of Dynamo's graph, before aot_autograd: calls whose aten form the HAL cannot take, in a form it can.

* Attention. On the CPU, ``F.scaled_dot_product_attention`` dispatches (below
  autograd, so no aot decomposition can intercept it) to a fused flash kernel
  with its own backward — one opaque node. It becomes
  softmax(q·kᵀ·scale + bias)·v, whose forward and backward are ordinary aten
  ops. A boolean mask becomes an additive bias of 0 and the dtype's lowest
  finite value (not -inf, whose all-masked softmax row is 0/0), and the rows
  without any visible key are multiplied by 0 afterwards — torch's own
  answer for a fully masked row (its ``_safe_softmax``), so GPT-2 with left
  padding gives finite outputs and gradients. ``nn.MultiheadAttention``
  reaches Dynamo as one call of ``F.multi_head_attention_forward``; its
  ``need_weights=True`` branch is that same math, so the rewrite asks for it.
* Layer norm and max pooling become ``torch.ops.halkit`` operators, whose
  backward (``layer_norm_backward``, ``max_pool2d_backward``) needs only the
  input — aten's needs the saved mean/rstd or argmax positions, which no HAL
  op returns — so training keeps them on the device too.

These rewrites serve placement by the cost model (a device). Where placement
is measured (a driver in host memory), torch's own fused forms are what each
HAL kernel is measured against, so the graph keeps them (backend.py) — except
max pooling that trains, which is rewritten where the HAL's pooling and its
recomputing backward measure faster than aten's pair (which records the
argmax positions): one graph node, timed whole, since aot_autograd splits the
pair only later (``measure.training_max_pool``). On one CPU core torch's
channels-first forward that records positions took about 3.8 ms for
ResNet-18's 8x64x32x32 pooling, the HAL's forward and backward 0.8 ms.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.fx import GraphModule, Node

import halkit.torch  # noqa: F401  (registers torch.ops.halkit.*)

from . import measure
from .timeline import concrete

_SDPA = {torch._C._nn.scaled_dot_product_attention, F.scaled_dot_product_attention}
_NEED_WEIGHTS_POSITION = 15  # in F.multi_head_attention_forward's signature
_HAL_DTYPES = (torch.float32, torch.float64)


def attention_math(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """Scaled dot-product attention without dropout, written with matmul and softmax; a query row that sees no
    key gives 0, as torch's own attention does."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = torch.matmul(query, key.transpose(-2, -1)) * scale
    lowest = torch.finfo(scores.dtype).min
    visible, bias = None, None  # which keys a query sees; an additive mask
    if is_causal:
        visible = torch.ones(query.shape[-2], key.shape[-2], dtype=torch.bool, device=query.device).tril()
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        visible = attn_mask if visible is None else visible & attn_mask
    elif attn_mask is not None:
        bias = attn_mask
        visible = attn_mask != float("-inf") if visible is None else visible & (attn_mask != float("-inf"))
    if visible is None:
        return torch.matmul(torch.softmax(scores, dim=-1), value)
    if bias is None:
        bias = torch.zeros(visible.shape, dtype=scores.dtype, device=scores.device)
    bias = bias.clamp_min(lowest).masked_fill(~visible, lowest)  # finite: an all-masked row is no 0/0
    sees_a_key = visible.any(dim=-1, keepdim=True).to(scores.dtype)
    return torch.matmul(torch.softmax(scores + bias, dim=-1) * sees_a_key, value)


def multi_head_attention_math(*args, **kwargs):
    """F.multi_head_attention_forward through its explicit-softmax branch; weights returned only if asked."""
    wanted = args[_NEED_WEIGHTS_POSITION] if len(args) > _NEED_WEIGHTS_POSITION else kwargs.get("need_weights", True)
    if len(args) > _NEED_WEIGHTS_POSITION:
        args = (*args[:_NEED_WEIGHTS_POSITION], True, *args[_NEED_WEIGHTS_POSITION + 1:])
    else:
        kwargs["need_weights"] = True
    output, weights = F.multi_head_attention_forward(*args, **kwargs)
    return output, weights if wanted else None


def _example(node):
    value = node.meta.get("example_value") if isinstance(node, Node) else None
    return value if isinstance(value, torch.Tensor) else None


def _hal_ready(*nodes) -> bool:
    """Float32/64 tensors on the CPU or the halkit device: what the torch.ops.halkit operators take."""
    values = [_example(n) for n in nodes if n is not None]
    return all(v is not None and v.dtype in _HAL_DTYPES and v.device.type in ("cpu", "halkit") for v in values) and \
        len({v.dtype for v in values}) <= 1


def _layer_norm(node) -> bool:
    args = dict(zip(("input", "normalized_shape", "weight", "bias", "eps"), node.args), **node.kwargs)
    shape = args.get("normalized_shape")
    shape = (shape,) if isinstance(shape, int) else shape
    x, weight, bias = args["input"], args.get("weight"), args.get("bias")
    if not isinstance(shape, (tuple, list)) or len(shape) != 1 or not _hal_ready(x, weight, bias):
        return False
    node.target = torch.ops.halkit.layer_norm.default
    node.args, node.kwargs = (x, weight, bias, float(args.get("eps", 1e-5))), {}
    return True


def _max_pool(node, measured_on=None) -> bool:
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    args = dict(zip(names, node.args), **node.kwargs)
    x = args["input"]
    if args.get("return_indices") or not _hal_ready(x) or _example(x).dim() != 4:
        return False
    pair = lambda v: list(v) if isinstance(v, (tuple, list)) else [v, v]  # noqa: E731
    kernel = pair(args["kernel_size"])
    stride = args.get("stride")
    window = (kernel, pair(stride) if stride else kernel, pair(args.get("padding", 0)),
              pair(args.get("dilation", 1)), bool(args.get("ceil_mode", False)))
    if measured_on is not None:
        example = _example(x)
        if not example.requires_grad or example.device.type != "cpu":
            return False
        if not measure.training_max_pool(concrete(example.shape), example.dtype, window, measured_on).hal_wins:
            return False
    node.target = torch.ops.halkit.max_pool2d.default
    node.args, node.kwargs = (x, *window), {}
    return True


def rewrite(gm: GraphModule, measured_on=None) -> int:
    """Rewrite a Dynamo graph's attention, layer norm and max pooling calls in place; returns how many.
    ``measured_on``: the target in host memory whose placement is measured; then only max pooling that
    trains is rewritten, where the HAL's measures faster (module doc)."""
    count = 0
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if measured_on is not None:
            if node.target is F.max_pool2d and _max_pool(node, measured_on):
                count += 1
            continue
        if node.target is F.multi_head_attention_forward:
            node.target = multi_head_attention_math
        elif node.target in _SDPA:
            dropout = node.args[4] if len(node.args) > 4 else node.kwargs.get("dropout_p", 0.0)
            if dropout != 0.0 or node.kwargs.get("enable_gqa", False):
                continue  # keep the fused op: the math form here has no dropout
            node.target = attention_math
        elif node.target is F.layer_norm:
            if not _layer_norm(node):
                continue
        elif node.target is F.max_pool2d:
            if not _max_pool(node):
                continue
        else:
            continue
        count += 1
    if count:
        gm.recompile()
    return count
