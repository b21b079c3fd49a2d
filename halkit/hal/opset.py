"""The op set: every kernel a driver may run, described once.

For each op this table says what a driver's ``launch`` receives — named input
arrays (``"bias?"`` optional, ``"xs*"`` variadic) and keyword parameters with
their defaults — how to size its outputs, and how much work it is (FLOPs and
bytes, or the GEMM it amounts to). Everything that needs one of those facts
reads it here: the op API sizes outputs for device arrays, drivers validate
launches, the cost model prices kernels for the mock's trace and for
placement, the conformance suite enumerates ops. Semantics are defined by the
numpy driver (``builtin/numpy_reference.py``), one method per op.

Shapes are tuples of ints; a spec is ``(shape, dtype)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import ml_dtypes
import numpy as np

from .errors import DeviceError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: bfloat16 (NumPy arrays via ml_dtypes): the GEMM family, cast and the layout copy take it, as
#: low-precision matrix engines do; products and sums run in float32 and the result is rounded once.
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
GEMM_DTYPES = FLOAT_DTYPES + (BFLOAT16,)
INDEX_DTYPE = np.dtype(np.int64)


class Spec(NamedTuple):
    shape: tuple
    dtype: np.dtype


class Work(NamedTuple):
    """What an op costs before a device's speeds are applied."""

    flops: float
    nbytes: int  # bytes read + written, each operand once
    gemm: tuple | None = None  # (batch, m, k, n) when the op is GEMM-shaped


@dataclass(frozen=True)
class OpDef:
    name: str
    inputs: tuple[str, ...]
    params: tuple[tuple[str, object], ...]
    infer: Callable  # (input specs by name, params) -> [output Spec]
    flops: Callable | float = 1.0  # per output element, or fn(inputs, outputs, params) -> total FLOPs
    gemm: Callable | None = None  # (inputs, params) -> (batch, m, k, n)
    doc: str = ""
    defaults: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "defaults", dict(self.params))

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(n.rstrip("?*") for n in self.inputs)


# --- shape rules -----------------------------------------------------------------------------------

def _fail(op, message):
    raise ValueError(f"{op}: {message}")


def _pair(op, name, value, minimum):
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum
                                   for v in values):
        _fail(op, f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(values[0]), int(values[1])


def conv_output_size(size, kernel, stride, padding, dilation, ceil_mode=False) -> int:
    """Output length of a convolution/pooling window sweep (torch's formula, ceil_mode included)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding only
    return out


def _same_shape(op):
    def infer(ins, params):
        present = [(n, s) for n, s in ins.items() if s is not None]
        first_name, first = present[0]
        for name, spec in present[1:]:
            if spec.shape != first.shape:
                _fail(op, f"{name} has shape {spec.shape} but {first_name} has shape {first.shape}: they must be equal")
        return [first]
    return infer


def _last_axis(op, vectors=(), keep=True):
    def infer(ins, params):
        x = ins["x"]
        if len(x.shape) < 1:
            _fail(op, "x must have at least 1 dimension, got a 0-D array")
        for name in vectors:
            if ins.get(name) is not None and ins[name].shape != (x.shape[-1],):
                _fail(op, f"{name} must have shape ({x.shape[-1]},) to match x {x.shape}, got {ins[name].shape}")
        return [x if keep else Spec((x.shape[-1],), x.dtype)]
    return infer


def _gemm_dims(op, a, b, trans_a, trans_b):
    if len(a) != 2 or len(b) != 2:
        _fail(op, f"a and b must be 2-D, got shapes {a} and {b}")
    m, k = (a[1], a[0]) if trans_a else a
    k2, n = (b[1], b[0]) if trans_b else b
    if k != k2:
        _fail(op, f"inner dimensions differ: op(a) is {m}×{k} and op(b) is {k2}×{n}")
    return m, k, n


def _infer_gemm(ins, p):
    m, _, n = _gemm_dims("gemm", ins["a"].shape, ins["b"].shape, p["trans_a"], p["trans_b"])
    if ins.get("bias") is not None and ins["bias"].shape != (n,):
        _fail("gemm", f"bias must have shape ({n},), got {ins['bias'].shape}")
    if p["activation"] not in (None, "relu", "gelu"):
        _fail("gemm", f"activation must be None, 'relu' or 'gelu', got {p['activation']!r}")
    return [Spec((m, n), ins["a"].dtype)]


def _bmm_dims(ins, p):
    a, b = ins["a"].shape, ins["b"].shape
    if len(a) != 3 or len(b) != 3 or a[0] != b[0]:
        _fail("bmm", f"a and b must be 3-D with the same batch size, got {a} and {b}")
    return (a[0], *_gemm_dims("bmm", a[1:], b[1:], p["trans_a"], p["trans_b"]))


def _infer_bmm(ins, p):
    batch, m, _, n = _bmm_dims(ins, p)
    return [Spec((batch, m, n), ins["a"].dtype)]


def _conv_geometry(op, x, w, p):
    """(N, C, H, W), (O, C/groups, kh, kw) -> output (N, O, OH, OW)."""
    if len(x) != 4 or len(w) != 4:
        _fail(op, f"x and w must be 4-D (NCHW and OIHW), got {x} and {w}")
    groups = p["groups"]
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        _fail(op, f"groups must be a positive int, got {groups!r}")
    if x[1] != w[1] * groups or w[0] % groups:
        _fail(op, f"x has {x[1]} channels and w is {w} with groups={groups}: need C = w.shape[1]·groups "
                  "and out_channels divisible by groups")
    stride, padding, dilation = (_pair(op, k, p[k], m) for k, m in (("stride", 1), ("padding", 0), ("dilation", 1)))
    out = tuple(conv_output_size(s, k, st, pa, d) for s, k, st, pa, d in zip(x[2:], w[2:], stride, padding, dilation))
    if min(w[2:]) < 1 or min(out) < 1:
        _fail(op, f"input {x[2:]} with padding {padding} is smaller than the dilated kernel {w[2:]}: empty output")
    return (x[0], w[0], *out)


def _infer_conv2d(ins, p):
    out = _conv_geometry("conv2d", ins["x"].shape, ins["w"].shape, p)
    if ins.get("bias") is not None and ins["bias"].shape != (out[1],):
        _fail("conv2d", f"bias must have shape ({out[1]},), got {ins['bias'].shape}")
    return [Spec(out, ins["x"].dtype)]


def _conv_gemm(ins, p, x_shape=None, w_shape=None):
    """The convolution as one GEMM per group: (N·OH·OW) × (C/g·kh·kw) times (C/g·kh·kw) × (O/g)."""
    x, w = x_shape or ins["x"].shape, w_shape or ins["w"].shape
    out = _conv_geometry("conv2d", x, w, p)
    return p["groups"], out[0] * out[2] * out[3], w[1] * w[2] * w[3], w[0] // p["groups"]


def _infer_conv2d_input_grad(ins, p):
    x_shape = tuple(p["input_shape"])
    out = _conv_geometry("conv2d_input_grad", x_shape, ins["w"].shape, p)
    if ins["grad"].shape != out:
        _fail("conv2d_input_grad", f"grad has shape {ins['grad'].shape}; the convolution's output is {out}")
    return [Spec(x_shape, ins["grad"].dtype)]


def _infer_conv2d_weight_grad(ins, p):
    x = ins["x"].shape
    w_shape = (ins["grad"].shape[1], x[1] // p["groups"], *p["kernel_size"])
    out = _conv_geometry("conv2d_weight_grad", x, w_shape, p)
    if ins["grad"].shape != out:
        _fail("conv2d_weight_grad", f"grad has shape {ins['grad'].shape}; the convolution's output is {out}")
    return [Spec(w_shape, ins["x"].dtype)]


def _pool_output(op, x, p, dilation=True):
    if len(x) != 4:
        _fail(op, f"x must be 4-D (N, C, H, W), got {x}")
    kernel = _pair(op, "kernel_size", p["kernel_size"], 1)
    stride = _pair(op, "stride", p["stride"] if p["stride"] is not None else kernel, 1)
    padding = _pair(op, "padding", p["padding"], 0)
    dil = _pair(op, "dilation", p["dilation"], 1) if dilation else (1, 1)
    if any(pa * 2 > k for pa, k in zip(padding, kernel)):
        _fail(op, f"padding {padding} must be at most half the kernel size {kernel}")
    out = tuple(conv_output_size(s, k, st, pa, d, p["ceil_mode"]) for s, k, st, pa, d in
                zip(x[2:], kernel, stride, padding, dil))
    if min(out) < 1:
        _fail(op, f"input {x[2:]} is smaller than the pooling window: empty output")
    return (*x[:2], *out)


def _infer_pool(op, dilation=True):
    return lambda ins, p: [Spec(_pool_output(op, ins["x"].shape, p, dilation), ins["x"].dtype)]


def _infer_pool_backward(op, dilation=True):
    def infer(ins, p):
        out = _pool_output(op, ins["x"].shape, p, dilation)
        if ins["grad"].shape != out:
            _fail(op, f"grad has shape {ins['grad'].shape}; the pooling output is {out}")
        return [ins["x"]]
    return infer


def _infer_adaptive(ins, p):
    x = ins["x"].shape
    if len(x) != 4:
        _fail("adaptive_avg_pool2d", f"x must be 4-D (N, C, H, W), got {x}")
    oh, ow = _pair("adaptive_avg_pool2d", "output_size", p["output_size"], 1)
    return [Spec((*x[:2], oh, ow), ins["x"].dtype)]


def _infer_adaptive_backward(ins, p):
    out = _infer_adaptive({"x": ins["x"]}, p)[0]
    if ins["grad"].shape != out.shape:
        _fail("adaptive_avg_pool2d_backward", f"grad has shape {ins['grad'].shape}, expected {out.shape}")
    return [ins["x"]]


def normalize_axes(op, axes, ndim) -> tuple[int, ...]:
    """Reduction axes as sorted non-negative ints; None means every axis."""
    if axes is None:
        return tuple(range(ndim))
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and -max(ndim, 1) <= a < max(ndim, 1)
               for a in axes):
        _fail(op, f"axes must be ints in [{-ndim}, {ndim}), got {axes!r}")
    normalized = sorted({int(a) % max(ndim, 1) for a in axes})
    if len(normalized) != len(axes):
        _fail(op, f"axes repeat an axis: {axes!r}")
    return tuple(normalized)


def _infer_reduce(op):
    def infer(ins, p):
        x = ins["x"].shape
        axes = normalize_axes(op, p["axes"], len(x))
        shape = tuple(1 if i in axes else d for i, d in enumerate(x)) if p["keepdims"] else \
            tuple(d for i, d in enumerate(x) if i not in axes)
        return [Spec(shape, ins["x"].dtype)]
    return infer


def _channel_vectors(op, x, ins, names):
    if len(x) < 2:
        _fail(op, f"x must be (N, C, ...), got {x}")
    for name in names:
        if ins.get(name) is not None and ins[name].shape != (x[1],):
            _fail(op, f"{name} must have shape ({x[1]},) to match x's channels, got {ins[name].shape}")


def _infer_batch_norm(ins, p):
    _channel_vectors("batch_norm", ins["x"].shape, ins, ("mean", "var", "weight", "bias"))
    return [ins["x"]]


def _infer_batch_norm_stats(ins, p):
    x = ins["x"]
    _channel_vectors("batch_norm_stats", x.shape, ins, ())
    return [Spec((x.shape[1],), x.dtype)] * 2


def _infer_batch_norm_backward(ins, p):
    x = ins["x"]
    _channel_vectors("batch_norm_backward", x.shape, ins, ("mean", "var", "weight"))
    if ins["grad"].shape != x.shape:
        _fail("batch_norm_backward", f"grad has shape {ins['grad'].shape} but x has {x.shape}")
    return [x, Spec((x.shape[1],), x.dtype), Spec((x.shape[1],), x.dtype)]


def _infer_layer_norm_backward(ins, p):
    x = _last_axis("layer_norm_backward", ("weight",))(ins, p)[0]
    if ins["grad"].shape != x.shape:
        _fail("layer_norm_backward", f"grad has shape {ins['grad'].shape} but x has {x.shape}")
    return [x, Spec((x.shape[-1],), x.dtype), Spec((x.shape[-1],), x.dtype)]


def _infer_softmax_backward(ins, p):
    return _same_shape("softmax_backward")(ins, p)


def _infer_embedding(ins, p):
    w, idx = ins["weight"], ins["indices"]
    if len(w.shape) != 2:
        _fail("embedding", f"weight must be 2-D (num_embeddings, dim), got {w.shape}")
    if idx.dtype != INDEX_DTYPE:
        _fail("embedding", f"indices must be int64, got {idx.dtype}")
    return [Spec((*idx.shape, w.shape[1]), w.dtype)]


def _infer_embedding_backward(ins, p):
    grad, idx = ins["grad"], ins["indices"]
    if idx.dtype != INDEX_DTYPE:
        _fail("embedding_backward", f"indices must be int64, got {idx.dtype}")
    if grad.shape[:-1] != idx.shape:
        _fail("embedding_backward", f"grad {grad.shape} must be indices' shape {idx.shape} + (dim,)")
    num, pad = int(p["num_weights"]), p["padding_idx"]
    if not isinstance(pad, (int, np.integer)) or isinstance(pad, bool) or not -1 <= pad < max(num, 0):
        _fail("embedding_backward", f"padding_idx must be -1 (none) or in [0, num_weights = {num}), got {pad!r}")
    return [Spec((num, grad.shape[-1]), grad.dtype)]


def _infer_cat(ins, p):
    xs = ins["xs"]
    if not xs:
        _fail("cat", "needs at least one array")
    first = xs[0]
    axis = normalize_axes("cat", p["axis"], len(first.shape))[0] if first.shape else _fail("cat", "0-D arrays")
    total = 0
    for i, x in enumerate(xs):
        if x.dtype != first.dtype or len(x.shape) != len(first.shape) or \
                any(a != b for j, (a, b) in enumerate(zip(x.shape, first.shape)) if j != axis):
            _fail("cat", f"xs[{i}] is {x.shape} {x.dtype}; every array must match xs[0] {first.shape} "
                         f"{first.dtype} except along axis {axis}")
        total += x.shape[axis]
    return [Spec(first.shape[:axis] + (total,) + first.shape[axis + 1:], first.dtype)]


def _infer_copy_strided(ins, p):
    x = ins["x"]
    shape, strides, offset = tuple(p["shape"]), tuple(p["strides"]), int(p["offset"])
    if len(shape) != len(strides) or any(d < 0 for d in shape) or offset < 0:
        _fail("copy_strided", f"shape {shape}, strides {strides} and offset {offset} do not describe a view")
    size = math.prod(x.shape)
    if math.prod(shape) and offset + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0) >= size or \
            any(s < 0 for s in strides):
        _fail("copy_strided", f"view (shape {shape}, strides {strides}, offset {offset}) reaches outside "
                              f"the {size} elements of x")
    return [Spec(shape, x.dtype)]


def _infer_cast(ins, p):
    dtype = np.dtype(p["dtype"])
    if dtype not in GEMM_DTYPES:
        _fail("cast", f"dtype must be float32, float64 or bfloat16, got {dtype}")
    return [Spec(ins["x"].shape, dtype)]


def _infer_factory(ins, p):
    dtype = np.dtype(p["dtype"])
    shape = tuple(p["shape"])
    if dtype not in FLOAT_DTYPES or any(isinstance(d, bool) or d < 0 for d in shape):
        _fail("fill", f"shape {shape} / dtype {dtype} not allowed: non-negative ints, float32 or float64")
    return [Spec(shape, dtype)]


# --- work -----------------------------------------------------------------------------------------

def _gemm_work(ins, p):
    m, k, n = _gemm_dims("gemm", ins["a"].shape, ins["b"].shape, p["trans_a"], p["trans_b"])
    return 1, m, k, n


def _input_elements(ins, outs, p):
    return float(sum(math.prod(s.shape) for s in flat(ins.values())))


def _out_elements(outs):
    return sum(math.prod(s.shape) for s in outs)


def _per_output(fn):
    """FLOPs per output element given by fn(inputs, params), as a total-FLOPs callable."""
    return lambda ins, outs, p: fn(ins, p) * _out_elements(outs)


def flat(items):
    """The items of an op's input list, a list-valued input (cat's ``xs``) expanded, absent ones (None) left out."""
    for s in items:
        if isinstance(s, list):
            yield from s
        elif s is not None:
            yield s


def _op(name, inputs, params, infer, flops=1.0, gemm=None, doc=""):
    return OpDef(name, tuple(inputs.split()) if inputs else (), tuple(params), infer, flops, gemm, doc)


_POOL = (("kernel_size", 1), ("stride", None), ("padding", 0), ("dilation", 1), ("ceil_mode", False))
_AVG_POOL = (("kernel_size", 1), ("stride", None), ("padding", 0), ("ceil_mode", False),
             ("count_include_pad", True), ("dilation", 1))
_CONV = (("stride", (1, 1)), ("padding", (0, 0)), ("dilation", (1, 1)), ("groups", 1))
_REDUCE = (("axes", None), ("keepdims", False))

OPS: dict[str, OpDef] = {op.name: op for op in [
    # GEMMs
    _op("gemm", "a b bias?", (("trans_a", False), ("trans_b", False), ("activation", None)), _infer_gemm,
        flops=_per_output(lambda i, p: (i.get("bias") is not None) + {None: 0, "relu": 1, "gelu": 10}[p["activation"]]),
        gemm=_gemm_work, doc="activation(op(a) @ op(b) + bias); op transposes when its flag is set"),
    _op("bmm", "a b", (("trans_a", False), ("trans_b", False)), _infer_bmm, flops=0.0, gemm=_bmm_dims,
        doc="op(a[i]) @ op(b[i]) for each batch index i"),
    _op("conv2d", "x w bias?", _CONV, _infer_conv2d, flops=_per_output(lambda i, p: float(i.get("bias") is not None)),
        gemm=_conv_gemm, doc="NCHW cross-correlation like torch.nn.functional.conv2d (groups included)"),
    _op("conv2d_input_grad", "grad w", (("input_shape", ()),) + _CONV, _infer_conv2d_input_grad, flops=0.0,
        gemm=lambda i, p: (lambda g, m, k, n: (g, m, n, k))(*_conv_gemm(i, p, x_shape=tuple(p["input_shape"]))),
        doc="gradient of conv2d with respect to x"),
    _op("conv2d_weight_grad", "grad x", (("kernel_size", (1, 1)),) + _CONV, _infer_conv2d_weight_grad, flops=0.0,
        gemm=lambda i, p: (lambda g, m, k, n: (g, n, m, k))(*_conv_gemm(
            i, p, w_shape=(i["grad"].shape[1], i["x"].shape[1] // p["groups"], *p["kernel_size"]))),
        doc="gradient of conv2d with respect to w"),
    # element-wise
    *(_op(n, "x", (), _same_shape(n), flops=f) for n, f in
      (("relu", 1), ("gelu", 10), ("tanh", 8), ("sigmoid", 6), ("silu", 7), ("hardswish", 4),
       ("sqrt", 4), ("exp", 6))),
    _op("scale", "x", (("alpha", 1.0), ("beta", 0.0)), _same_shape("scale"), flops=2,
        doc="alpha·x + beta with scalar alpha, beta"),
    _op("add", "a b", (("alpha", 1.0),), _same_shape("add"), doc="a + alpha·b"),
    _op("mul", "a b", (), _same_shape("mul")),
    _op("div", "a b", (), _same_shape("div")),
    *(_op(n, "grad x", (), _same_shape(n), flops=f) for n, f in
      (("relu_backward", 1), ("gelu_backward", 15), ("silu_backward", 9), ("hardswish_backward", 4))),
    *(_op(n, "grad y", (), _same_shape(n), flops=f) for n, f in (("tanh_backward", 3), ("sigmoid_backward", 3))),
    # along the last axis
    _op("add_bias", "x b", (), _last_axis("add_bias", ("b",)), doc="x + b, b broadcast along the last axis"),
    _op("sum_rows", "x", (), _last_axis("sum_rows", keep=False), flops=_input_elements,
        doc="sum over every axis but the last"),
    _op("softmax", "x", (), _last_axis("softmax"), flops=5, doc="softmax over the last axis"),
    _op("softmax_backward", "grad y", (), _infer_softmax_backward, flops=4),
    _op("layer_norm", "x weight? bias?", (("eps", 1e-5),), _last_axis("layer_norm", ("weight", "bias")), flops=8),
    _op("layer_norm_backward", "grad x weight?", (("eps", 1e-5),), _infer_layer_norm_backward, flops=12,
        doc="(grad_x, grad_weight, grad_bias) of layer_norm"),
    # reductions
    _op("sum", "x", _REDUCE, _infer_reduce("sum"), flops=_input_elements),
    _op("mean", "x", _REDUCE, _infer_reduce("mean"), flops=_input_elements),
    # normalisation over channels (axis 1)
    _op("batch_norm", "x mean var weight? bias?", (("eps", 1e-5),), _infer_batch_norm, flops=4,
        doc="(x - mean) / sqrt(var + eps) · weight + bias per channel"),
    _op("batch_norm_stats", "x", (), _infer_batch_norm_stats, flops=_input_elements,
        doc="(mean, biased variance) per channel"),
    _op("batch_norm_backward", "grad x mean var weight?", (("eps", 1e-5),), _infer_batch_norm_backward, flops=10,
        doc="(grad_x, grad_weight, grad_bias) of training-mode batch_norm (stats from this batch)"),
    # pooling
    _op("max_pool2d", "x", _POOL, _infer_pool("max_pool2d"), flops=_per_output(lambda i, p: _window(p))),
    _op("max_pool2d_backward", "grad x", _POOL, _infer_pool_backward("max_pool2d"), flops=_per_output(lambda i, p: _window(p))),
    _op("avg_pool2d", "x", _AVG_POOL, _infer_pool("avg_pool2d", dilation=False), flops=_per_output(lambda i, p: _window(p))),
    _op("avg_pool2d_backward", "grad x", _AVG_POOL, _infer_pool_backward("avg_pool2d", dilation=False),
        flops=_per_output(lambda i, p: _window(p))),
    _op("adaptive_avg_pool2d", "x", (("output_size", (1, 1)),), _infer_adaptive, flops=_input_elements),
    _op("adaptive_avg_pool2d_backward", "grad x", (("output_size", (1, 1)),), _infer_adaptive_backward),
    # indexing and layout
    _op("embedding", "weight indices", (), _infer_embedding, flops=0.0, doc="weight[indices]"),
    _op("embedding_backward", "grad indices", (("num_weights", 0), ("padding_idx", -1)), _infer_embedding_backward,
        doc="scatter-add of grad rows into a (num_weights, dim) zero array; rows at padding_idx (>= 0) add nothing"),
    _op("cat", "xs*", (("axis", 0),), _infer_cat, flops=0.0),
    _op("copy_strided", "x", (("shape", ()), ("strides", ()), ("offset", 0)), _infer_copy_strided, flops=0.0,
        doc="a dense copy of the view (shape, strides, offset; in elements) of x's flat storage"),
    _op("cast", "x", (("dtype", "float32"),), _infer_cast, flops=0.0),
    # factories (no inputs: the output is described by the parameters)
    _op("fill", "", (("shape", ()), ("dtype", "float32"), ("value", 0.0)), _infer_factory, flops=0.0),
    _op("random_normal", "", (("shape", ()), ("dtype", "float32"), ("seed", 0), ("offset", 0), ("mean", 0.0),
                              ("std", 1.0)), _infer_factory, flops=20,
        doc="N(mean, std²) samples from a Philox stream keyed by seed, starting at counter offset"),
    _op("random_uniform", "", (("shape", ()), ("dtype", "float32"), ("seed", 0), ("offset", 0), ("low", 0.0),
                               ("high", 1.0)), _infer_factory, flops=10,
        doc="U[low, high) samples from a Philox stream keyed by seed, starting at counter offset"),
]}


def _window(p) -> float:
    k = p["kernel_size"]
    return float(k * k if isinstance(k, (int, np.integer)) else math.prod(k))


# --- the entry points --------------------------------------------------------------------------------

def lookup(name: str) -> OpDef:
    """The OpDef of ``name``; DeviceError listing the op set when there is none."""
    try:
        return OPS[name]
    except (KeyError, TypeError):
        raise DeviceError(f"unknown op {name!r}: the op set is {sorted(OPS)}") from None


def bind_params(op: OpDef, params: dict) -> dict:
    """Every parameter of ``op``, defaults filled in; unknown names are refused."""
    unknown = set(params) - op.defaults.keys()
    if unknown:
        raise ValueError(f"{op.name}: unknown parameter(s) {sorted(unknown)}; it takes {list(op.defaults)}")
    return {**op.defaults, **params}


def bind_inputs(op: OpDef, inputs) -> dict:
    """Name the positional inputs: optional ones may be None or omitted at the end, a variadic one takes the rest."""
    inputs = list(inputs)
    if op.inputs and op.inputs[-1].endswith("*"):  # a variadic op takes one list
        if len(inputs) != 1 or not isinstance(inputs[0], (list, tuple)):
            raise ValueError(f"{op.name} takes one list of arrays, got {len(inputs)} argument(s)")
        return {op.input_names[0]: list(inputs[0])}
    required = sum(not n.endswith("?") for n in op.inputs)
    if not required <= len(inputs) <= len(op.inputs):
        raise ValueError(f"{op.name} takes inputs {op.inputs}, got {len(inputs)}")
    inputs += [None] * (len(op.inputs) - len(inputs))
    for name, value in zip(op.inputs, inputs):
        if value is None and not name.endswith("?"):
            raise ValueError(f"{op.name}: input {name!r} is required")
    return dict(zip(op.input_names, inputs))


def spec_of(x) -> Spec | None:
    if x is None:
        return None
    if isinstance(x, list):
        return [spec_of(v) for v in x]
    return Spec(tuple(x.shape), np.dtype(x.dtype))


def infer(name: str, inputs, params: dict) -> tuple[list[Spec], dict]:
    """(output specs, bound params) of op ``name`` applied to ``inputs`` (anything with .shape and .dtype)."""
    op = lookup(name)
    params = bind_params(op, params)
    specs = {k: spec_of(v) for k, v in bind_inputs(op, inputs).items()}
    return op.infer(specs, params), params


def check_launch(name: str, outputs, inputs, params: dict) -> dict:
    """Validate a launch as a driver receives it — a known op, its inputs, known params, and outputs of the
    shapes and dtypes the op writes — and return the params with defaults filled in. Raises DeviceError for
    an unknown op and ValueError naming the op otherwise, so a driver refuses a bad launch at the call."""
    specs, params = infer(name, inputs, params)
    if len(outputs) != len(specs):
        raise ValueError(f"{name}: writes {len(specs)} output(s), got {len(outputs)}")
    for i, (out, spec) in enumerate(zip(outputs, specs)):
        if tuple(out.shape) != spec.shape or np.dtype(out.dtype) != spec.dtype:
            raise ValueError(f"{name}: output {i} is {tuple(out.shape)} {np.dtype(out.dtype)}, but the op writes "
                             f"{spec.shape} {spec.dtype}")
    return params


def work(name: str, inputs, outputs, params: dict) -> Work:
    """FLOPs and bytes of one launch (inputs/outputs: anything with .shape and .dtype)."""
    op = lookup(name)
    params = bind_params(op, params)
    ins = {k: spec_of(v) for k, v in bind_inputs(op, inputs).items()}
    outs = [spec_of(o) for o in outputs]
    nbytes = sum(math.prod(s.shape) * s.dtype.itemsize for s in (*flat(ins.values()), *outs))
    flops = float(op.flops(ins, outs, params) if callable(op.flops) else op.flops * _out_elements(outs))
    if op.gemm is not None:
        batch, m, k, n = op.gemm(ins, params)
        return Work(2.0 * batch * m * k * n + flops, nbytes, (batch, m, k, n))
    return Work(flops, nbytes)
