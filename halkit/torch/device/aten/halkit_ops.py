"""halkit kernels for the ``torch.ops.halkit`` operators (halkit.torch.ops), so HALLinear, HALConv2d,
``convert()``-ed models and compiled graphs that call those operators run on halkit tensors too.

Each operator is one HAL op of the same name (``matmul`` is ``gemm``): its tensor arguments are the HAL
op's inputs in order, its other arguments the HAL op's parameters (a few under another name). The three
operators whose arguments say more than their HAL op (``linear``'s leading dims and fused activation,
``softmax``'s dim, ``conv2d``'s activation) are written out.
"""
from __future__ import annotations

import torch

from halkit.hal import opset

from .. import memory
from ..registry import kernel
from .common import computable, new, run
from .nn import _softmax_backward_plan, _softmax_plan
from ... import ops as halkit_ops

# operator argument name -> HAL parameter name, where they differ
_PARAMETER = {"dims": "axes", "keepdim": "keepdims", "input_size": "input_shape", "dim": "axis"}
_HAL_OP = {"matmul": "gemm"}


def _array(t):
    return None if t is None else [memory.as_array(x) for x in t] if isinstance(t, (list, tuple)) else memory.as_array(t)


def _generic(name: str, schema):
    hal_op = _HAL_OP.get(name, name)
    defaults = opset.lookup(hal_op).defaults
    arguments = schema.arguments

    def run_op(*args, **kwargs):
        values = [*args, *(kwargs.get(a.name, a.default_value) for a in arguments[len(args):])]
        inputs, params = [], {}
        for argument, value in zip(arguments, values):
            if isinstance(value, torch.Tensor) or (isinstance(value, (list, tuple)) and value
                                                   and isinstance(value[0], torch.Tensor)):
                inputs.append(value)
            elif value is None and "Tensor" in str(argument.type):
                inputs.append(None)
            else:
                key = _PARAMETER.get(argument.name, argument.name)
                if key in defaults:
                    params[key] = (tuple(value) or None) if isinstance(value, (list, tuple)) else value
        floats = [t for x in inputs if x is not None for t in (x if isinstance(x, (list, tuple)) else (x,))
                  if t.dtype.is_floating_point]
        computable(*floats)
        outputs = run(hal_op, [_array(x) for x in inputs], **params)
        return tuple(map(memory.as_tensor, outputs)) if isinstance(outputs, tuple) else memory.as_tensor(outputs)
    return run_op


def _linear(x, weight, bias=None, activation=None):
    computable(*(t for t in (x, weight, bias) if t is not None))
    w, transposed = memory.gemm_operand(weight)
    rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
    y = run("gemm", [memory.as_array(x).reshape(rows, x.shape[-1]), w, None if bias is None else memory.as_array(bias)],
            trans_a=False, trans_b=not transposed, activation=activation)
    return memory.as_tensor(y, (*x.shape[:-1], weight.shape[0]))


def _conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation=None):
    computable(*(t for t in (x, weight, bias) if t is not None))
    y = run("conv2d", [memory.as_array(x), memory.as_array(weight), None if bias is None else memory.as_array(bias)],
            stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation), groups=int(groups))
    return memory.as_tensor(y if activation is None else run(activation, [y]))


_SPECIAL = {
    "linear": _linear,
    "conv2d": _conv2d,
    "softmax": lambda x, dim=-1: new(_softmax_plan(x, dim)),
    "softmax_backward": lambda grad, y, dim=-1: new(_softmax_backward_plan(grad, y, dim, y.dtype)),
}


for _name in halkit_ops.REGISTERED:
    _schema = getattr(torch.ops.halkit, _name).default._schema
    kernel(_name, namespace="halkit")(_SPECIAL.get(_name) or _generic(_name, _schema))
