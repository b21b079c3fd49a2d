"""Which aten nodes the HAL can run, as which HAL op — and, when it cannot, why.

One table maps an aten overload to a rule; a rule looks at the node (its
arguments and the shapes/dtypes tracing recorded in ``node.meta["val"]``) and
returns either a :class:`Lowering` (the HAL kernel and its arguments) or a
reason string. The partitioner's support check, the placement report and the
lowering pass all read this one table, so they cannot disagree.
"""
from __future__ import annotations

import operator
from typing import NamedTuple

import torch
from torch.fx import Node
from torch.fx.experimental.symbolic_shapes import statically_known_true
from torch.fx.passes.operator_support import OperatorSupportBase

aten = torch.ops.aten


class Transposed(NamedTuple):
    """A lowering argument that is the transpose (aten.t view) of a node: addmm's mat2 is linear's w.T."""

    node: Node


class Permuted(NamedTuple):
    """A lowering argument that is a permutation (aten.permute view) of a node."""

    node: Node
    dims: tuple


class Lowering(NamedTuple):
    kernel: str  # a HAL op name in halkit.runtime.kernels.NAMES
    args: tuple
    reshape: tuple | None = None  # view the result to this shape (aten.sum's kept dims)


class MultiLowering(NamedTuple):
    """A multi-output aten node lowered output by output: parts maps a tuple index to its Lowering."""

    kernel: str  # what the cost model prices for the whole node, e.g. "conv2d_backward"
    parts: dict

    @property
    def kernels(self) -> list[str]:
        return [part.kernel for part in self.parts.values()]


# Ops that only re-describe memory (views, layout copies): free to keep inside a HAL partition so
# that a view between two HAL ops does not split it, but never worth a partition of their own.
LAYOUT_OPS = (
    aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.t.default,
    aten.transpose.int, aten.permute.default, aten.unsqueeze.default, aten.squeeze.dim,
    aten.detach.default, aten.clone.default, aten.expand.default, aten.select.int,
)


def val(arg):
    """The traced value (FakeTensor or SymInt) of a node argument, or the argument itself."""
    return arg.meta.get("val") if isinstance(arg, Node) else arg


def shape_equal(a, b) -> bool:
    """Shapes equal for every value of the symbolic sizes (never adds a guard)."""
    return len(a) == len(b) and all(statically_known_true(x == y) for x, y in zip(a, b))


def _is_tensor(arg) -> bool:
    return isinstance(val(arg), torch.Tensor)


def _mm(node):
    a, b = node.args
    return Lowering("matmul", (a, b))


def _addmm(node):
    bias, a, b = node.args[:3]
    if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
        return "addmm with beta/alpha ≠ 1 has no HAL op"
    if val(bias).ndim != 1:
        return "addmm with a non-vector bias has no HAL op"
    return Lowering("linear", (a, Transposed(b), bias, None))


def _unary(kernel):
    return lambda node: Lowering(kernel, (node.args[0],))


def _gelu(node):
    if node.kwargs.get("approximate", "none") != "none":
        return "tanh-approximate gelu differs from the HAL's exact gelu"
    return Lowering("gelu", (node.args[0],))


def _softmax(node):
    x, dim, half_to_float = node.args
    return "half_to_float softmax has no HAL op" if half_to_float else Lowering("softmax", (x, dim))


def _layer_norm(node):
    x, normalized_shape, weight, bias, eps = node.args
    if len(normalized_shape) != 1:
        return "layer_norm over more than the last axis has no HAL op"
    if any(user.target is not operator.getitem or user.args[1] != 0 for user in node.users):
        return "mean/rstd outputs are used (by the backward); the HAL layer_norm returns only the output"
    return Lowering("layer_norm", (x, weight, bias, eps))


def _add(node):
    a, b = node.args[:2]
    if node.kwargs.get("alpha", 1) != 1 or not (_is_tensor(a) and _is_tensor(b)):
        return "add with a scalar or alpha has no HAL op"
    sa, sb = val(a).shape, val(b).shape
    if shape_equal(sa, sb):
        return Lowering("add", (a, b))
    if len(sb) == 1 and len(sa) >= 1 and shape_equal(sb, sa[-1:]):
        return Lowering("add_bias", (a, b))
    if len(sa) == 1 and len(sb) >= 1 and shape_equal(sa, sb[-1:]):
        return Lowering("add_bias", (b, a))
    return "broadcasting add has no HAL op (equal shapes or a last-axis bias only)"


def _mul(node):
    a, b = node.args[:2]
    if not (_is_tensor(a) and _is_tensor(b)):
        return "mul by a scalar has no HAL op"
    if not shape_equal(val(a).shape, val(b).shape):
        return "broadcasting mul has no HAL op (equal shapes only)"
    return Lowering("mul", (a, b))


def _threshold_backward(node):
    grad, x, threshold = node.args
    return Lowering("relu_backward", (grad, x)) if threshold == 0 else "threshold ≠ 0 is not relu's backward"


def _gelu_backward(node):
    if node.kwargs.get("approximate", "none") != "none":
        return "tanh-approximate gelu_backward has no HAL op"
    return Lowering("gelu_backward", tuple(node.args[:2]))


def _sum(node):
    x, dims = node.args[:2]
    keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
    ndim = val(x).ndim
    if ndim < 2 or sorted(d % ndim for d in dims) != list(range(ndim - 1)):
        return "sum over other axes than all-but-last has no HAL op"
    return Lowering("sum_rows", (x,), reshape=[1] * (ndim - 1) + [-1] if keepdim else None)


def _convolution(node):
    x, w, b, stride, padding, dilation, transposed, output_padding, groups = node.args
    if transposed or groups != 1 or val(x).ndim != 4:
        return "only 2-D, ungrouped, non-transposed convolutions have a HAL op"
    return Lowering("conv2d", (x, w, b, list(stride), list(padding), list(dilation), 1, None))


def _convolution_backward(node):
    grad, x, w, bias_sizes, stride, padding, dilation, transposed, output_padding, groups, mask = node.args
    if transposed or groups != 1 or val(x).ndim != 4:
        return "only 2-D, ungrouped, non-transposed convolutions have HAL gradient ops"
    if mask[0] and not all(isinstance(d, int) for d in val(x).shape):
        return "conv2d_input_grad needs the input's static shape (this graph has a dynamic one)"
    conv = (list(stride), list(padding), list(dilation))
    parts = {}
    if mask[0]:
        parts[0] = Lowering("conv2d_input_grad", (grad, w, list(val(x).shape), *conv))
    if mask[1]:
        parts[1] = Lowering("conv2d_weight_grad", (grad, x, list(val(w).shape[2:]), *conv))
    if mask[2]:  # the bias gradient sums over N, H, W: channels last, it is sum_rows
        parts[2] = Lowering("sum_rows", (Permuted(grad, (0, 2, 3, 1)),))
    return MultiLowering("conv2d_backward", parts)


RULES = {
    aten.mm.default: _mm,
    aten.addmm.default: _addmm,
    aten.relu.default: _unary("relu"),
    aten.gelu.default: _gelu,
    aten._softmax.default: _softmax,
    aten.native_layer_norm.default: _layer_norm,
    aten.add.Tensor: _add,
    aten.mul.Tensor: _mul,
    aten.threshold_backward.default: _threshold_backward,
    aten.gelu_backward.default: _gelu_backward,
    aten.sum.dim_IntList: _sum,
    aten.convolution.default: _convolution,
    aten.convolution_backward.default: _convolution_backward,
}


def _dtype_problem(node, device) -> str | None:
    tensors = [val(a) for a in node.all_input_nodes if _is_tensor(a)]
    out = val(node)
    tensors += [t for t in (out if isinstance(out, (tuple, list)) else [out]) if isinstance(t, torch.Tensor)]
    dtypes = {t.dtype for t in tensors}
    bad = sorted(str(d) for d in dtypes - set(device.dtypes))
    if bad:
        return f"dtype {', '.join(bad)} not supported by {device.name} (supports {', '.join(map(str, device.dtypes))})"
    if any(t.device.type != "cpu" for t in tensors):
        return "tensor not in host memory"
    return None


def lowering_for(node: Node, device) -> Lowering | MultiLowering | str:
    """How ``device`` runs this call node, or why it cannot."""
    rule = RULES.get(node.target)
    if rule is None:
        return f"{_op_name(node)} has no HAL op"
    problem = _dtype_problem(node, device)
    if problem:
        return problem
    lowering = rule(node)
    needed = [lowering.kernel] if isinstance(lowering, Lowering) else lowering.kernels if isinstance(lowering, MultiLowering) else []
    missing = [k for k in needed if k not in device.ops]
    return f"{device.name} does not implement {', '.join(missing)}" if missing else lowering


def is_layout(node: Node) -> bool:
    return node.op == "call_function" and node.target in LAYOUT_OPS


def _op_name(node: Node) -> str:
    return str(node.target).replace("aten::", "aten.") if node.op == "call_function" else node.op


class HalSupport(OperatorSupportBase):
    """The partitioner's question "may this node go to the HAL?".

    Call nodes only: placeholders and outputs must stay with the graph (claiming
    them breaks fuse_by_partitions). Layout ops are claimed too, as non-compute
    glue; the partitioner strips them from a partition's edges.
    """

    def __init__(self, device):
        self.device = device

    def is_node_supported(self, submodules, node: Node) -> bool:
        if node.op != "call_function":
            return False
        if is_layout(node):
            return True
        if node.target is operator.getitem:
            return lowers(node.args[0], self.device)
        return lowers(node, self.device)


def lowers(node: Node, device) -> bool:
    return isinstance(lowering_for(node, device), (Lowering, MultiLowering))


def qualified_names(ops) -> list[str]:
    """The names CapabilityBasedPartitioner uses to recognise non-compute ops."""
    from torch.fx.node import _get_qualified_name

    return [_get_qualified_name(op) for op in ops]
