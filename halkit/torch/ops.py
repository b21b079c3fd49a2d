"""The ``torch.ops.halkit`` operators: each HAL op registered with torch.library.

Every operator gets its CPU kernel from :mod:`halkit.torch.tensor_ops` (a HAL call
on the current driver), a fake kernel (shapes and dtypes only, so
torch.compile, export and FX tracing see through it) computed from the HAL's
own op table (:mod:`halkit.hal.opset`, the one place output shapes are
defined), and an autograd formula from :mod:`halkit.torch.gradients` whose
backward calls these same operators, so AOTAutograd can trace it. The
backward operators have formulas too, so second derivatives are correct or a
clear error — never silently wrong.

Eager code does not go through these operators: it calls the kernels from
autograd Functions directly (see :mod:`halkit.torch.functional`), which costs
a fraction of a dispatcher round trip. The operators are what compiled graphs,
exporters and the graph compiler (``halkit.runtime``) see.

Importing this module registers the operators once per process.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from halkit.hal import opset

from . import gradients as g
from . import tensor_ops

NAMESPACE = "halkit"

# FRAGMENT, not DEF: other halkit packages may add operators to the same namespace.
_lib = torch.library.Library(NAMESPACE, "FRAGMENT")

#: names of the operators this module registers, in registration order.
REGISTERED: list[str] = []

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


class _Meta:
    """A fake tensor's shape and dtype as the HAL's op table reads them."""

    def __init__(self, t):
        self.shape = tuple(t.shape)
        self.dtype = np.dtype(str(t.dtype).removeprefix("torch."))


def _meta(x):
    return None if x is None else [_Meta(t) for t in x] if isinstance(x, (list, tuple)) else _Meta(x)


def _same_dtype(*tensors):
    tensors = [t for t in tensors if t is not None and t.dtype.is_floating_point]
    for t in tensors[1:]:
        torch._check(t.dtype == tensors[0].dtype,
                     lambda: f"halkit ops take operands of one dtype, got {tensors[0].dtype} and {t.dtype}")


def _fake(hal_op: str, to_hal):
    """A fake kernel: ``to_hal(*args)`` gives (hal inputs, hal params); the op table sizes the outputs."""
    def fake(*args):
        inputs, params = to_hal(*args)
        _same_dtype(*(t for x in inputs for t in (x if isinstance(x, (list, tuple)) else (x,))))
        specs, _ = opset.infer(hal_op, [_meta(x) for x in inputs], params)
        flat = [t for x in inputs for t in (x if isinstance(x, (list, tuple)) else (x,)) if t is not None]
        like = next(t for t in flat if t.dtype.is_floating_point)
        outs = [like.new_empty(s.shape, dtype=_TORCH_DTYPES.get(s.dtype, like.dtype)) for s in specs]
        return outs[0] if len(outs) == 1 else tuple(outs)
    return fake


def _register(name, schema, to_hal, hal_op=None, setup_context=None, backward=None, fake=None):
    """Define ``halkit::name``; its fake kernel is ``fake`` or sized by the op table through ``to_hal``."""
    _lib.define(f"{name}{schema}", tags=(torch.Tag.pt2_compliant_tag,))
    REGISTERED.append(name)
    qualname = f"{NAMESPACE}::{name}"
    torch.library.impl(qualname, "CPU", lib=_lib)(getattr(tensor_ops, name))
    torch.library.register_fake(qualname, fake or _fake(hal_op or name, to_hal), lib=_lib)
    if backward is not None:
        torch.library.register_autograd(
            qualname, functools.partial(backward, torch.ops.halkit), setup_context=setup_context, lib=_lib)


def _pairs(*values):
    return [tuple(v) if isinstance(v, (list, tuple)) else (v, v) for v in values]


# --- how each operator's arguments map onto its HAL op (for the fake kernels) ---------------------------------

def _fake_linear(x, weight, bias=None, activation=None):
    # linear keeps x's leading dims around its 2-D GEMM, which the op table's "gemm" does not describe.
    _same_dtype(x, weight, bias)
    torch._check(x.shape[-1] == weight.shape[1],
                 lambda: f"x has {x.shape[-1]} features, weight expects {weight.shape[1]}")
    torch._check(bias is None or tuple(bias.shape) == (weight.shape[0],),
                 lambda: f"bias must have shape ({weight.shape[0]},)")
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


def _unary(x):
    return (x,), {}


def _binary(a, b):
    return (a, b), {}


def _conv(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation=None):
    return (x, weight, bias), dict(stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation),
                                   groups=groups)


def _pool(x, kernel_size, stride, padding, dilation, ceil_mode):
    return (x,), dict(kernel_size=tuple(kernel_size), stride=tuple(stride) or None, padding=tuple(padding),
                      dilation=tuple(dilation), ceil_mode=ceil_mode)


def _pool_backward(grad, x, *params):
    inputs, p = _pool(x, *params)
    return (grad, x), p


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    return (x,), dict(kernel_size=tuple(kernel_size), stride=tuple(stride) or None, padding=tuple(padding),
                      ceil_mode=ceil_mode, count_include_pad=count_include_pad)


def _avg_pool_backward(grad, x, *params):
    return (grad, x), _avg_pool(x, *params)[1]


# --- the operators ------------------------------------------------------------------------------------------

_register("linear", "(Tensor x, Tensor weight, Tensor? bias=None, str? activation=None) -> Tensor",
          None, setup_context=g.linear_setup_context, backward=g.linear_backward, fake=_fake_linear)
_register("matmul", "(Tensor a, Tensor b, bool trans_a=False, bool trans_b=False) -> Tensor",
          lambda a, b, ta=False, tb=False: ((a, b, None), dict(trans_a=ta, trans_b=tb)), hal_op="gemm",
          setup_context=g.matmul_setup_context, backward=g.matmul_backward)
_register("bmm", "(Tensor a, Tensor b, bool trans_a=False, bool trans_b=False) -> Tensor",
          lambda a, b, ta=False, tb=False: ((a, b), dict(trans_a=ta, trans_b=tb)),
          setup_context=g.matmul_setup_context, backward=g.bmm_backward)
_register("relu", "(Tensor x) -> Tensor", _unary, setup_context=g.relu_save_output, backward=g.relu_backward)
_register("gelu", "(Tensor x) -> Tensor", _unary, setup_context=g.save_input, backward=g.gelu_backward)
_register("silu", "(Tensor x) -> Tensor", _unary, setup_context=g.save_input, backward=g.silu_backward)
_register("hardswish", "(Tensor x) -> Tensor", _unary, setup_context=g.save_input, backward=g.hardswish_backward)
_register("tanh", "(Tensor x) -> Tensor", _unary, setup_context=g.save_output, backward=g.tanh_backward)
_register("sigmoid", "(Tensor x) -> Tensor", _unary, setup_context=g.save_output, backward=g.sigmoid_backward)
_register("softmax", "(Tensor x, int dim=-1) -> Tensor", lambda x, dim=-1: ((x,), {}),
          setup_context=g.softmax_setup_context, backward=g.softmax_backward)
_register("add", "(Tensor a, Tensor b) -> Tensor", _binary, backward=g.add_backward)
_register("mul", "(Tensor a, Tensor b) -> Tensor", _binary, setup_context=g.save_inputs, backward=g.mul_backward)
_register("div", "(Tensor a, Tensor b) -> Tensor", _binary, setup_context=g.save_inputs, backward=g.div_backward)
_register("add_bias", "(Tensor x, Tensor b) -> Tensor", _binary, backward=g.add_bias_backward)
_register("sum_rows", "(Tensor x) -> Tensor", _unary, setup_context=g.sum_rows_setup_context,
          backward=g.sum_rows_backward)
_register("sum", "(Tensor x, int[]? dims=None, bool keepdim=False) -> Tensor",
          lambda x, dims=None, keepdim=False: ((x,), dict(axes=tuple(dims) if dims else None, keepdims=keepdim)),
          setup_context=g.reduce_setup_context, backward=g.sum_backward)
_register("mean", "(Tensor x, int[]? dims=None, bool keepdim=False) -> Tensor",
          lambda x, dims=None, keepdim=False: ((x,), dict(axes=tuple(dims) if dims else None, keepdims=keepdim)),
          setup_context=g.reduce_setup_context, backward=g.mean_backward)
_register("layer_norm", "(Tensor x, Tensor? weight=None, Tensor? bias=None, float eps=1e-05) -> Tensor",
          lambda x, w=None, b=None, eps=1e-5: ((x, w, b), dict(eps=eps)),
          setup_context=g.layer_norm_setup_context, backward=g.layer_norm_backward)
_register("batch_norm", "(Tensor x, Tensor mean, Tensor var, Tensor? weight=None, Tensor? bias=None, "
          "float eps=1e-05) -> Tensor", lambda x, m, v, w=None, b=None, eps=1e-5: ((x, m, v, w, b), dict(eps=eps)),
          setup_context=g.batch_norm_setup_context, backward=g.batch_norm_backward)
_register("batch_norm_stats", "(Tensor x) -> (Tensor, Tensor)", _unary)
_register("conv2d", "(Tensor x, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, "
          "int[2] dilation=1, int groups=1, str? activation=None) -> Tensor", _conv,
          setup_context=g.conv2d_setup_context, backward=g.conv2d_backward)
_register("max_pool2d", "(Tensor x, int[2] kernel_size, int[] stride, int[2] padding, int[2] dilation, "
          "bool ceil_mode) -> Tensor", _pool, setup_context=g.pool_setup_context,
          backward=g.pool_backward("max_pool2d_backward"))
_register("avg_pool2d", "(Tensor x, int[2] kernel_size, int[] stride, int[2] padding, bool ceil_mode, "
          "bool count_include_pad) -> Tensor", _avg_pool, setup_context=g.pool_setup_context,
          backward=g.pool_backward("avg_pool2d_backward"))
_register("adaptive_avg_pool2d", "(Tensor x, int[2] output_size) -> Tensor",
          lambda x, size: ((x,), dict(output_size=tuple(size))), setup_context=g.pool_setup_context,
          backward=g.pool_backward("adaptive_avg_pool2d_backward"))
_register("embedding", "(Tensor weight, Tensor indices) -> Tensor", _binary,
          setup_context=g.embedding_setup_context, backward=g.embedding_backward)
_register("cat", "(Tensor[] tensors, int dim=0) -> Tensor",
          lambda ts, dim=0: ((list(ts),), dict(axis=dim % max(len(ts[0].shape), 1))),
          setup_context=g.cat_setup_context, backward=g.cat_backward)

# Backward operators, each with its own derivative (or a clear error), so create_graph=True is never wrong.
_register("relu_backward", "(Tensor grad, Tensor x) -> Tensor", _binary,
          setup_context=g.save_grad_and_value, backward=g.relu_double_backward)
_register("gelu_backward", "(Tensor grad, Tensor x) -> Tensor", _binary,
          setup_context=g.save_grad_and_value, backward=g.gelu_double_backward)
_register("tanh_backward", "(Tensor grad, Tensor y) -> Tensor", _binary,
          setup_context=g.save_grad_and_value, backward=g.tanh_double_backward)
_register("sigmoid_backward", "(Tensor grad, Tensor y) -> Tensor", _binary,
          setup_context=g.save_grad_and_value, backward=g.sigmoid_double_backward)
_register("softmax_backward", "(Tensor grad, Tensor y, int dim=-1) -> Tensor",
          lambda grad, y, dim=-1: ((grad, y), {}), setup_context=g.softmax_backward_setup,
          backward=g.softmax_double_backward)
_register("conv2d_input_grad", "(Tensor grad, Tensor weight, SymInt[4] input_size, int[2] stride, int[2] padding, "
          "int[2] dilation, int groups=1) -> Tensor",
          lambda grad, w, size, s, p, d, groups=1: ((grad, w), dict(input_shape=tuple(size), stride=tuple(s),
                                                                   padding=tuple(p), dilation=tuple(d), groups=groups)),
          setup_context=g.conv2d_input_grad_setup, backward=g.conv2d_input_grad_double_backward)
_register("conv2d_weight_grad", "(Tensor grad, Tensor x, int[2] kernel_size, int[2] stride, int[2] padding, "
          "int[2] dilation, int groups=1) -> Tensor",
          lambda grad, x, k, s, p, d, groups=1: ((grad, x), dict(kernel_size=tuple(k), stride=tuple(s),
                                                                padding=tuple(p), dilation=tuple(d), groups=groups)),
          setup_context=g.conv2d_weight_grad_setup, backward=g.conv2d_weight_grad_double_backward)
_register("embedding_backward", "(Tensor grad, Tensor indices, SymInt num_weights) -> Tensor",
          lambda grad, idx, n: ((grad, idx), dict(num_weights=n)),
          setup_context=g.embedding_backward_setup, backward=g.embedding_double_backward)
for _name, _schema, _to_hal in [
    ("silu_backward", "(Tensor grad, Tensor x) -> Tensor", _binary),
    ("hardswish_backward", "(Tensor grad, Tensor x) -> Tensor", _binary),
    ("layer_norm_backward", "(Tensor grad, Tensor x, Tensor? weight=None, float eps=1e-05) -> (Tensor, Tensor, Tensor)",
     lambda grad, x, w=None, eps=1e-5: ((grad, x, w), dict(eps=eps))),
    ("batch_norm_backward", "(Tensor grad, Tensor x, Tensor mean, Tensor var, Tensor? weight=None, float eps=1e-05) "
     "-> (Tensor, Tensor, Tensor)", lambda grad, x, m, v, w=None, eps=1e-5: ((grad, x, m, v, w), dict(eps=eps))),
    ("max_pool2d_backward", "(Tensor grad, Tensor x, int[2] kernel_size, int[] stride, int[2] padding, "
     "int[2] dilation, bool ceil_mode) -> Tensor", _pool_backward),
    ("avg_pool2d_backward", "(Tensor grad, Tensor x, int[2] kernel_size, int[] stride, int[2] padding, "
     "bool ceil_mode, bool count_include_pad) -> Tensor", _avg_pool_backward),
    ("adaptive_avg_pool2d_backward", "(Tensor grad, Tensor x, int[2] output_size) -> Tensor",
     lambda grad, x, size: ((grad, x), dict(output_size=tuple(size)))),
]:
    _setup, _backward = g.no_double_backward(_name)
    _register(_name, _schema, _to_hal, setup_context=_setup, backward=_backward)
