"""Which aten nodes a target can run, as which kernel — and, when it cannot, why.

One table maps an aten overload (or a ``torch.ops.halkit`` operator) to a
rule; a rule looks at the node (its arguments and the shapes/dtypes tracing
recorded in ``node.meta["val"]``) and returns either a :class:`Lowering` (the
kernel of :mod:`halkit.runtime.kernels` and its arguments) or a reason string.
The partitioner's support check, the placement report and the lowering pass
all read this one table, so they cannot disagree. Whether the target runs the
kernel's HAL ops at the node's dtypes is read from its capabilities.
"""
from __future__ import annotations

import operator
from typing import NamedTuple

import torch
from torch.fx import Node
from torch.fx.experimental.symbolic_shapes import statically_known_true
from torch.fx.passes.operator_support import OperatorSupportBase

from . import kernels
from .program import LAYOUT

aten = torch.ops.aten

#: ops that only re-describe memory: free to keep inside a partition, never worth a partition of their own
LAYOUT_OPS = tuple(LAYOUT)

#: the HAL op-set ops each kernel launches (what a target must run natively for the kernel to be placed on it)
HAL_OPS = {
    "linear": ("gemm",), "matmul": ("gemm",), "add_bias": ("add_bias",), "full": ("fill",),
    "batch_norm_training": ("batch_norm_stats", "batch_norm", "fill", "div", "sqrt", "scale", "add"),
    "batch_norm_training_backward": ("batch_norm_backward", "fill", "div", "mul", "scale"),
    "convolution_backward": ("conv2d_input_grad", "conv2d_weight_grad", "sum"),
}


class Transposed(NamedTuple):
    """A lowering argument that is the transpose (aten.t) of a node: addmm's mat2 is linear's w.T."""

    node: Node


class Expanded(NamedTuple):
    """A lowering argument broadcast to a shape (aten.expand view): an operand of a broadcasting element-wise op."""

    node: Node
    shape: tuple


class Cast(NamedTuple):
    """A lowering argument converted to another float dtype (type promotion, a reduction's dtype=)."""

    arg: object
    dtype: torch.dtype


class Index(NamedTuple):
    """An int64 index tensor argument (embedding's indices)."""

    node: Node


class Lowering(NamedTuple):
    kernel: str  # a name in halkit.runtime.kernels.ARRAY
    args: tuple
    index: int | None = None  # for an aten node with several outputs of which only this one is used


def val(arg):
    """The traced value (FakeTensor or SymInt) of a node argument, or the argument itself."""
    return arg.meta.get("val") if isinstance(arg, Node) else arg


def shape_equal(a, b) -> bool:
    """Shapes equal for every value of the symbolic sizes (never adds a guard)."""
    return len(a) == len(b) and all(statically_known_true(x == y) for x, y in zip(a, b))


def _is_tensor(arg) -> bool:
    return isinstance(val(arg), torch.Tensor)


def _literal(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _only_output_used(node, index: int) -> bool:
    return all(u.target is operator.getitem and u.args[1] == index for u in node.users)


# --- the rules ------------------------------------------------------------------------------------------

def _mm(node):
    return Lowering("matmul", tuple(node.args[:2]))


def _addmm(node):
    bias, a, b = node.args[:3]
    if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
        return "addmm with beta/alpha ≠ 1 has no HAL op"
    if val(bias).ndim != 1:
        return "addmm with a non-vector bias has no HAL op"
    return Lowering("linear", (a, Transposed(b), bias, None))


def _bmm(node):
    return Lowering("bmm", tuple(node.args[:2]))


def _unary(kernel):
    return lambda node: Lowering(kernel, (node.args[0],))


def _gelu(node):
    if node.kwargs.get("approximate", "none") != "none":
        return "tanh-approximate gelu differs from the HAL's exact gelu"
    return Lowering("gelu", (node.args[0],))


def _neg(node):
    return Lowering("scale", (node.args[0], -1.0, 0.0))


def _pow(node):
    x, exponent = node.args[:2]
    steps = {2: Lowering("mul", (x, x)), 0.5: Lowering("sqrt", (x,)), 1: Lowering("scale", (x, 1.0, 0.0))}
    return steps.get(exponent, f"pow with exponent {exponent!r} has no HAL op (2, 0.5 and 1 have)")


def _softmax(node):
    x, dim, half_to_float = node.args
    return "half_to_float softmax has no HAL op" if half_to_float else Lowering("softmax", (x, dim))


def _softmax_backward(node):
    grad, y, dim = node.args[:3]
    return Lowering("softmax_backward", (grad, y, dim))


def _layer_norm(node):
    x, normalized_shape, weight, bias, eps = node.args
    if len(normalized_shape) != 1:
        return "layer_norm over more than the last axis has no HAL op"
    if not _only_output_used(node, 0):
        return "mean/rstd outputs are used (by the backward); the HAL layer_norm returns only the output"
    return Lowering("layer_norm", (x, weight, bias, eps), index=0)


def _broadcast(arg, shape):
    return arg if shape_equal(val(arg).shape, shape) else Expanded(arg, tuple(shape))


def _arithmetic(kind):
    """add/sub/mul/div (and rsub) of two tensors (broadcasting) or of a tensor and a Python number."""
    def rule(node):
        a, b = node.args[:2]
        alpha = node.kwargs.get("alpha", node.args[2] if len(node.args) > 2 else 1)
        out = val(node).shape
        if not _literal(alpha):
            return f"{kind} with alpha {alpha!r} known only at run time has no HAL op"
        if _is_tensor(a) and _is_tensor(b):
            if kind in ("add", "sub"):
                alpha = -alpha if kind == "sub" else alpha
                if alpha == 1 and val(b).ndim == 1 and len(out) >= 1 and shape_equal(val(b).shape, out[-1:]) \
                        and shape_equal(val(a).shape, out):
                    return Lowering("add_bias", (a, b))
                if alpha == 1 and val(a).ndim == 1 and len(out) >= 1 and shape_equal(val(a).shape, out[-1:]) \
                        and shape_equal(val(b).shape, out):
                    return Lowering("add_bias", (b, a))
                return Lowering("add", (_broadcast(a, out), _broadcast(b, out), float(alpha)))
            if kind == "rsub":
                return "rsub of two tensors has no HAL op"
            return Lowering(kind, (_broadcast(a, out), _broadcast(b, out)))
        tensor, number = (a, b) if _is_tensor(a) else (b, a)
        if not _literal(number) or not _is_tensor(tensor) or not shape_equal(val(tensor).shape, out):
            return f"{kind} with a scalar known only at run time has no HAL op"
        number = float(number)
        if kind == "add":
            return Lowering("scale", (tensor, 1.0, alpha * number))
        if kind == "sub":
            return Lowering("scale", (tensor, 1.0, -alpha * number) if tensor is a else (tensor, -1.0, number))
        if kind == "rsub":  # other - alpha·x
            return Lowering("scale", (tensor, -float(alpha), number))
        if kind == "mul":
            return Lowering("scale", (tensor, number, 0.0))
        if tensor is not a or number == 0:
            return "division of a number by a tensor (or by zero) has no HAL op"
        return Lowering("scale", (tensor, 1.0 / number, 0.0))
    return rule


def _threshold_backward(node):
    grad, x, threshold = node.args
    return Lowering("relu_backward", (grad, x)) if threshold == 0 else "threshold ≠ 0 is not relu's backward"


def _gelu_backward(node):
    if node.kwargs.get("approximate", "none") != "none":
        return "tanh-approximate gelu_backward has no HAL op"
    return Lowering("gelu_backward", tuple(node.args[:2]))


def _binary(kernel):
    return lambda node: Lowering(kernel, tuple(node.args[:2]))


def _reduction(kernel):
    """aten.sum/mean over some axes (dim_IntList / dim) or all (default), with an optional dtype=."""
    def rule(node):
        x = node.args[0]
        dims = node.args[1] if len(node.args) > 1 else None
        keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
        if not val(x).dtype.is_floating_point:
            return f"{kernel} of {val(x).dtype} values has no HAL op"
        dtype = node.kwargs.get("dtype")
        x = Cast(x, dtype) if dtype is not None and dtype != val(x).dtype else x
        return Lowering(kernel, (x, list(dims) if dims else None, bool(keepdim)))
    return rule


def _convolution(node):
    x, w, b, stride, padding, dilation, transposed, output_padding, groups = node.args
    if transposed or val(x).ndim != 4:
        return "only 2-D, non-transposed convolutions have a HAL op"
    return Lowering("conv2d", (x, w, b, list(stride), list(padding), list(dilation), groups, None))


def _convolution_backward(node):
    grad, x, w, bias_sizes, stride, padding, dilation, transposed, output_padding, groups, mask = node.args
    if transposed or val(x).ndim != 4:
        return "only 2-D, non-transposed convolutions have HAL gradient ops"
    return Lowering("convolution_backward", (grad, x, w, list(stride), list(padding), list(dilation), groups,
                                             list(mask)))


def _batch_norm_inference(node):
    x, weight, bias, mean, var, momentum, eps = node.args
    if not _only_output_used(node, 0):
        return "the saved statistics of an inference batch norm are used; the HAL batch_norm returns the output"
    return Lowering("batch_norm", (x, mean, var, weight, bias, eps), index=0)


def _batch_norm_training(node):
    x, weight, bias, mean, var, training, momentum, eps = node.args
    if not training:
        return "a functional batch norm outside training has no HAL op"
    return Lowering("batch_norm_training", (x, weight, bias, mean, var, momentum, eps))


def _batch_norm_backward(node):
    grad, x, weight, running_mean, running_var, save_mean, save_invstd, train, eps, mask = node.args
    if not train or save_mean is None:
        return "the backward of an inference batch norm has no HAL op"
    return Lowering("batch_norm_training_backward", (grad, x, weight, save_mean, save_invstd, eps, list(mask)))


def _max_pool(node):
    x, kernel_size, stride, padding, dilation, ceil_mode = _with_defaults(node, 6)
    if val(x).ndim != 4:
        return "max_pool2d of unbatched input has no HAL op"
    if not _only_output_used(node, 0):
        return "the max positions (used by the backward) have no HAL op; the HAL pooling recomputes them"
    return Lowering("max_pool2d", (x, _pair(kernel_size), list(stride), _pair(padding), _pair(dilation),
                                   bool(ceil_mode)), index=0)


def _with_defaults(node, count: int) -> list:
    """The node's first ``count`` arguments, positional, with the schema's defaults for those left out."""
    schema = node.target._schema.arguments[:count]
    return [node.args[i] if i < len(node.args) else node.kwargs.get(a.name, a.default_value)
            for i, a in enumerate(schema)]


def _pair(v):
    return list(v) * (2 if len(v) == 1 else 1) if isinstance(v, (list, tuple)) else [v, v]


def _avg_pool(node):
    x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor = _with_defaults(node, 7)
    if divisor is not None or val(x).ndim != 4:
        return "avg_pool2d with a divisor_override (or unbatched) has no HAL op"
    return Lowering("avg_pool2d", (x, _pair(kernel_size), list(stride), _pair(padding), bool(ceil_mode),
                                   bool(count_include_pad)))


def _avg_pool_backward(node):
    grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor = node.args
    if divisor is not None or val(x).ndim != 4:
        return "avg_pool2d_backward with a divisor_override (or unbatched) has no HAL op"
    return Lowering("avg_pool2d_backward", (grad, x, _pair(kernel_size), list(stride), _pair(padding),
                                            bool(ceil_mode), bool(count_include_pad)))


def _adaptive(node):
    x, size = node.args
    return Lowering("adaptive_avg_pool2d", (x, _pair(size))) if val(x).ndim == 4 else \
        "adaptive_avg_pool2d of unbatched input has no HAL op"


def _adaptive_backward(node):
    grad, x = node.args
    size = list(val(grad).shape[2:])
    if val(x).ndim != 4 or not all(isinstance(d, int) for d in size):
        return "adaptive_avg_pool2d_backward needs a static output size"
    return Lowering("adaptive_avg_pool2d_backward", (grad, x, size))


def _embedding(node):
    weight, indices = node.args[:2]
    return Lowering("embedding", (weight, Index(indices)))


def _embedding_backward(node):
    grad, indices, num_weights, padding_idx, scale_grad_by_freq = node.args
    if scale_grad_by_freq:
        return "embedding_backward with scale_grad_by_freq has no HAL op"
    return Lowering("embedding_backward", (grad, Index(indices), num_weights, padding_idx))


def _cat(node):
    tensors = node.args[0]
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if any(val(t).ndim != val(node).ndim for t in tensors) or val(node).ndim == 0:
        return "cat of tensors of different ranks (torch skips empty 1-D ones) or 0-D has no HAL op"
    return Lowering("cat", (list(tensors), dim))


def _to_copy(node):
    x = node.args[0]
    extra = {k: v for k, v in node.kwargs.items() if k not in ("dtype", "memory_format")}
    if any(v is not None and v is not False and v != val(x).device and v != val(x).layout for v in extra.values()):
        return "_to_copy changing the device or layout has no HAL op"
    return Lowering("cast", (x, node.kwargs.get("dtype", val(x).dtype)))


def _halkit_op(name):
    """A torch.ops.halkit operator in the graph (a rewrite put it there): the same kernel, its arguments in order."""
    def rule(node):
        schema = node.target._schema
        args = list(node.args) + [node.kwargs.get(a.name, a.default_value) for a in schema.arguments[len(node.args):]]
        return Lowering(name, tuple(args))
    return rule


RULES = {
    aten.mm.default: _mm,
    aten.addmm.default: _addmm,
    aten.bmm.default: _bmm,
    aten.relu.default: _unary("relu"),
    aten.gelu.default: _gelu,
    aten.tanh.default: _unary("tanh"),
    aten.sigmoid.default: _unary("sigmoid"),
    aten.silu.default: _unary("silu"),
    aten.hardswish.default: _unary("hardswish"),
    aten.exp.default: _unary("exp"),
    aten.sqrt.default: _unary("sqrt"),
    aten.neg.default: _neg,
    aten.pow.Tensor_Scalar: _pow,
    aten._softmax.default: _softmax,
    aten._softmax_backward_data.default: _softmax_backward,
    aten.native_layer_norm.default: _layer_norm,
    aten.add.Tensor: _arithmetic("add"),
    aten.sub.Tensor: _arithmetic("sub"),
    aten.mul.Tensor: _arithmetic("mul"),
    aten.div.Tensor: _arithmetic("div"),
    aten.rsub.Scalar: _arithmetic("rsub"),
    aten.add.Scalar: _arithmetic("add"),
    aten.sub.Scalar: _arithmetic("sub"),
    aten.mul.Scalar: _arithmetic("mul"),
    aten.div.Scalar: _arithmetic("div"),
    aten.threshold_backward.default: _threshold_backward,
    aten.gelu_backward.default: _gelu_backward,
    aten.tanh_backward.default: _binary("tanh_backward"),
    aten.sigmoid_backward.default: _binary("sigmoid_backward"),
    aten.silu_backward.default: _binary("silu_backward"),
    aten.hardswish_backward.default: _binary("hardswish_backward"),
    aten.sum.dim_IntList: _reduction("sum"),
    aten.sum.default: _reduction("sum"),
    aten.mean.dim: _reduction("mean"),
    aten.mean.default: _reduction("mean"),
    aten.convolution.default: _convolution,
    aten.convolution_backward.default: _convolution_backward,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_inference,
    aten._native_batch_norm_legit_functional.default: _batch_norm_training,
    aten.native_batch_norm_backward.default: _batch_norm_backward,
    aten.max_pool2d_with_indices.default: _max_pool,
    aten.avg_pool2d.default: _avg_pool,
    aten.avg_pool2d_backward.default: _avg_pool_backward,
    aten._adaptive_avg_pool2d.default: _adaptive,
    aten._adaptive_avg_pool2d_backward.default: _adaptive_backward,
    aten.embedding.default: _embedding,
    aten.embedding_dense_backward.default: _embedding_backward,
    aten.cat.default: _cat,
    aten._to_copy.default: _to_copy,
    **{getattr(torch.ops.halkit, name).default: _halkit_op(name)
       for name in kernels.ARRAY if hasattr(torch.ops.halkit, name)},
}


# --- dtypes and devices ----------------------------------------------------------------------------------

def _tensor_args(args):
    for arg in args:
        if isinstance(arg, (list, tuple)) and not isinstance(arg, (Transposed, Expanded, Cast, Index)):
            yield from _tensor_args(arg)
        elif isinstance(arg, Cast):
            yield from _tensor_args([arg.arg])
        elif isinstance(arg, (Transposed, Expanded)):
            yield arg.node, False
        elif isinstance(arg, Index):
            yield arg.node, True
        elif _is_tensor(arg):
            yield arg, False


def _cast_operands(lowering: Lowering, dtype) -> Lowering:
    """Element-wise kernels compute in the promoted dtype: operands of another float dtype are cast first."""
    def cast(arg):
        inner = arg.node if isinstance(arg, Expanded) else arg
        if isinstance(inner, Node) and _is_tensor(inner) and val(inner).dtype != dtype:
            return Expanded(Cast(inner, dtype), arg.shape) if isinstance(arg, Expanded) else Cast(inner, dtype)
        return arg
    return lowering._replace(args=tuple(cast(a) for a in lowering.args))


def _device_problem(tensor, target) -> str | None:
    if tensor.device.type == "cpu":
        return None
    if tensor.device.type == "halkit" and target.driver is not None:
        from halkit.torch.device import driver as torch_device

        if torch_device.current() is target.driver:
            return None
        return f"tensor on the torch device 'halkit' ({torch_device.current().name}), not on {target.name}"
    return f"tensor on {tensor.device}, not in host memory"


def _dtype_problem(node, lowering: Lowering, target):
    """(reason or None, the lowering with its casts): every float the target computes in, indices int64."""
    out = val(node)
    outputs = [t for t in (out if isinstance(out, (tuple, list)) else [out]) if isinstance(t, torch.Tensor)]
    if lowering.index is not None:
        outputs = [out[lowering.index]]
    operands = list(_tensor_args(lowering.args))
    for tensor in [*outputs, *(val(a) for a, _ in operands)]:
        problem = _device_problem(tensor, target)
        if problem:
            return problem, lowering
    for arg, is_index in operands:
        dtype = val(arg).dtype
        if is_index and dtype != torch.int64:
            return f"indices of dtype {dtype} (the HAL takes int64)", lowering
        if not is_index and not dtype.is_floating_point:
            return f"a {dtype} operand has no HAL op", lowering
    dtypes = {t.dtype for t in outputs} | {val(a).dtype for a, is_index in operands if not is_index}
    dtypes |= {a.dtype for a in lowering.args if isinstance(a, Cast)}
    hal_ops = HAL_OPS.get(lowering.kernel, (lowering.kernel,))
    bad = sorted(name for name in (str(d).removeprefix("torch.") for d in dtypes)  # per-op dtypes: bf16 GEMMs
                 if name not in target.caps.dtypes and not all(target.caps.supports(op, name) for op in hal_ops))
    if bad:
        return (f"dtype {', '.join(bad)} not supported by {target.name} (it computes in "
                f"{', '.join(target.caps.dtypes)})"), lowering
    if len({t.dtype for t in outputs}) == 1 and lowering.kernel in kernels.ELEMENTWISE | {"cat", "add_bias"}:
        dtype = outputs[0].dtype
        if lowering.kernel == "cat":
            return None, lowering._replace(args=([Cast(t, dtype) if val(t).dtype != dtype else t
                                                   for t in lowering.args[0]], *lowering.args[1:]))
        return None, _cast_operands(lowering, dtype)
    inputs = {val(a).dtype for a, is_index in operands if not is_index}
    if len(inputs | {t.dtype for t in outputs}) > 1 and lowering.kernel not in ("cast", "sum", "mean"):
        return f"operands of mixed dtypes ({', '.join(sorted(map(str, inputs)))}) have no HAL op", lowering
    return None, lowering


def lowering_for(node: Node, target) -> Lowering | str:
    """How ``target`` runs this call node, or why it cannot."""
    rule = RULES.get(node.target)
    if rule is None:
        return f"{_op_name(node)} has no HAL op"
    lowering = rule(node)
    if isinstance(lowering, str):
        return lowering
    problem, lowering = _dtype_problem(node, lowering, target)
    if problem:
        return problem
    missing = [op for op in HAL_OPS.get(lowering.kernel, (lowering.kernel,)) if op not in target.ops]
    return f"{target.name} does not run {', '.join(missing)}" if missing else lowering


def is_layout(node: Node) -> bool:
    return node.op == "call_function" and node.target in LAYOUT


def _op_name(node: Node) -> str:
    return str(node.target).replace("aten::", "aten.") if node.op == "call_function" else node.op


class HalSupport(OperatorSupportBase):
    """The partitioner's question "may this node go to the target?".

    Call nodes only: placeholders and outputs must stay with the graph (claiming
    them breaks fuse_by_partitions). Layout ops on float tensors are claimed too,
    as non-compute glue; the partitioner strips them from a partition's edges.
    """

    def __init__(self, target, keep=None):
        self.target = target
        self.keep = keep  # a further say on each supported compute node (measured placement), or None

    def is_node_supported(self, submodules, node: Node) -> bool:
        if node.op != "call_function":
            return False
        if is_layout(node):
            value = val(node)
            return isinstance(value, torch.Tensor) and value.dtype.is_floating_point and \
                _device_problem(value, self.target) is None
        if node.target is operator.getitem:
            return self.is_node_supported(submodules, node.args[0])
        return lowers(node, self.target) and (self.keep is None or self.keep(node))


def lowers(node: Node, target) -> bool:
    return isinstance(lowering_for(node, target), Lowering)


def qualified_names(ops) -> list[str]:
    """The names CapabilityBasedPartitioner uses to recognise non-compute ops."""
    from torch.fx.node import _get_qualified_name

    return [_get_qualified_name(op) for op in ops]
