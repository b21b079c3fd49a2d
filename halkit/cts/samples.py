"""Sample inputs for every op of the op set: one builder per op, and the geometries the suite runs.

A builder turns a small geometry (``dict`` of sizes and parameters) into the
op's inputs, in its declared order, and its parameters::

    inputs, params = build("conv2d", rng, np.float32, n=1, c=4, h=5, w=7, o=6, kh=3, kw=3, groups=2)

The conformance suite runs :data:`CASES` (fast: 1×1, odd sizes, large K,
empty where the op defines it) and, with ``thorough``, :data:`THOROUGH` too;
the property-based tests draw geometries at random and call the same
builders, so "what valid input for this op looks like" is written once.
Values are uniform in [-scale, scale] except where an op needs otherwise
(positive variances, in-range indices).
"""
from __future__ import annotations

import math

import numpy as np

from ..hal import opset

#: non-finite and edge values every element-wise op meets once (NaN, ±inf, ±0, a denormal, huge, the ±3 kinks).
SPECIAL_VALUES = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, 1.0, -1.0, 3.0, -3.0, 1e30, -1e30)

UNARY = ("relu", "gelu", "tanh", "sigmoid", "silu", "hardswish", "sqrt", "exp", "scale")
BINARY = ("add", "mul", "div", "relu_backward", "gelu_backward", "silu_backward", "hardswish_backward",
          "tanh_backward", "sigmoid_backward")
ELEMENTWISE = UNARY + BINARY


def uniform(rng, shape, dtype, scale=1.0, low=None):
    """Uniform in [-scale, scale] (or [low, scale]); always an ndarray of ``dtype``, 0-D included."""
    return np.asarray(rng.uniform(-scale if low is None else low, scale, size=shape), dtype=dtype)


def _specials(dtype, roll=0):
    return np.roll(np.array(SPECIAL_VALUES, dtype=dtype), roll)


# --- builders: (rng, dtype, **geometry) -> (inputs, params) ------------------------------------------------

def _unary(op):
    def build(rng, dtype, shape=(), special=False):
        if special:
            x = _specials(dtype)
        else:
            x = uniform(rng, shape, dtype, 4.0, low=0.0 if op == "sqrt" else None)
        return [x], (dict(alpha=-1.5, beta=0.25) if op == "scale" else {})
    return build


def _binary(op):
    def build(rng, dtype, shape=(), special=False):
        if special:
            a, b = _specials(dtype), _specials(dtype, roll=5)
        else:
            a, b = uniform(rng, shape, dtype), uniform(rng, shape, dtype, 4.0)
        return [a, b], (dict(alpha=-0.5) if op == "add" else {})
    return build


def _gemm(rng, dtype, m=1, k=1, n=1, trans_a=False, trans_b=False, bias=False, activation=None):
    a = uniform(rng, (k, m) if trans_a else (m, k), dtype)
    b = uniform(rng, (n, k) if trans_b else (k, n), dtype)
    return [a, b, uniform(rng, (n,), dtype) if bias else None], dict(trans_a=trans_a, trans_b=trans_b,
                                                                      activation=activation)


def _bmm(rng, dtype, batch=1, m=1, k=1, n=1, trans_a=False, trans_b=False):
    a = uniform(rng, (batch, k, m) if trans_a else (batch, m, k), dtype)
    b = uniform(rng, (batch, n, k) if trans_b else (batch, k, n), dtype)
    return [a, b], dict(trans_a=trans_a, trans_b=trans_b)


def _conv_params(stride, padding, dilation, groups):
    return dict(stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation), groups=groups)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_output_shape(n, c, h, w, o, kh, kw, stride=1, padding=0, dilation=1, groups=1):
    """The conv2d output shape of a geometry (None when it would be empty)."""
    params = _conv_params(stride, padding, dilation, groups)
    out = tuple(opset.conv_output_size(s, k, st, p, d) for s, k, st, p, d in
                zip((h, w), (kh, kw), params["stride"], params["padding"], params["dilation"]))
    return (n, o, *out) if min(out) >= 1 else None


def _conv2d(rng, dtype, n=1, c=1, h=1, w=1, o=1, kh=1, kw=1, stride=1, padding=0, dilation=1, groups=1,
            bias=False):
    x, wt = uniform(rng, (n, c, h, w), dtype), uniform(rng, (o, c // groups, kh, kw), dtype)
    return [x, wt, uniform(rng, (o,), dtype) if bias else None], _conv_params(stride, padding, dilation, groups)


def _conv2d_input_grad(rng, dtype, n=1, c=1, h=1, w=1, o=1, kh=1, kw=1, stride=1, padding=0, dilation=1,
                       groups=1, bias=False):
    out = conv_output_shape(n, c, h, w, o, kh, kw, stride, padding, dilation, groups)
    params = dict(input_shape=(n, c, h, w), **_conv_params(stride, padding, dilation, groups))
    return [uniform(rng, out, dtype), uniform(rng, (o, c // groups, kh, kw), dtype)], params


def _conv2d_weight_grad(rng, dtype, n=1, c=1, h=1, w=1, o=1, kh=1, kw=1, stride=1, padding=0, dilation=1,
                        groups=1, bias=False):
    out = conv_output_shape(n, c, h, w, o, kh, kw, stride, padding, dilation, groups)
    params = dict(kernel_size=(kh, kw), **_conv_params(stride, padding, dilation, groups))
    return [uniform(rng, out, dtype), uniform(rng, (n, c, h, w), dtype)], params


def _add_bias(rng, dtype, shape=(1,)):
    return [uniform(rng, shape, dtype), uniform(rng, shape[-1:], dtype)], {}


def _sum_rows(rng, dtype, shape=(1,)):
    return [uniform(rng, shape, dtype)], {}


def _softmax(rng, dtype, shape=(1,), special=False):
    x = uniform(rng, shape, dtype, 8.0)
    if special:  # rows with -inf (masked), +inf and NaN entries; one row fully masked
        x = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0]],
                     dtype)
    return [x], {}


def _softmax_backward(rng, dtype, shape=(1,)):
    y = uniform(rng, shape, dtype, 1.0, low=0.0)
    return [uniform(rng, shape, dtype), y / np.maximum(y.sum(axis=-1, keepdims=True), 1e-3)], {}


def _layer_norm(rng, dtype, shape=(1,), affine=True, eps=1e-5):
    x, d = uniform(rng, shape, dtype, 3.0), shape[-1]
    weight, bias = (uniform(rng, (d,), dtype), uniform(rng, (d,), dtype)) if affine else (None, None)
    return [x, weight, bias], dict(eps=eps)


def _layer_norm_backward(rng, dtype, shape=(1,), affine=True, eps=1e-5):
    d = shape[-1]
    return [uniform(rng, shape, dtype), uniform(rng, shape, dtype, 3.0),
            uniform(rng, (d,), dtype) if affine else None], dict(eps=eps)


def _reduce(rng, dtype, shape=(), axes=None, keepdims=False):
    return [uniform(rng, shape, dtype)], dict(axes=axes, keepdims=keepdims)


def _batch_norm(rng, dtype, shape=(1, 1), affine=True, eps=1e-5):
    c = shape[1]
    vectors = [uniform(rng, (c,), dtype), uniform(rng, (c,), dtype, 2.0, low=0.1)]
    vectors += [uniform(rng, (c,), dtype), uniform(rng, (c,), dtype)] if affine else [None, None]
    return [uniform(rng, shape, dtype, 3.0), *vectors], dict(eps=eps)


def _batch_norm_stats(rng, dtype, shape=(1, 1)):
    return [uniform(rng, shape, dtype, 3.0)], {}


def _batch_norm_backward(rng, dtype, shape=(1, 1), affine=True, eps=1e-5):
    """Training mode: mean and var are the batch's own statistics (what batch_norm_stats returns)."""
    x = uniform(rng, shape, dtype, 3.0)
    axes = (0, *range(2, len(shape)))
    weight = uniform(rng, (shape[1],), dtype) if affine else None
    return [uniform(rng, shape, dtype), x, x.mean(axis=axes), x.var(axis=axes), weight], dict(eps=eps)


def _pool_params(op, kernel, stride, padding, dilation, ceil_mode, count_include_pad):
    params = dict(kernel_size=_pair(kernel), stride=None if stride is None else _pair(stride),
                  padding=_pair(padding), ceil_mode=ceil_mode)
    if op.startswith("avg"):
        return dict(params, count_include_pad=count_include_pad, dilation=(1, 1))
    return dict(params, dilation=_pair(dilation))


def pool_output_shape(op, n, c, h, w, kernel=1, stride=None, padding=0, dilation=1, ceil_mode=False,
                      count_include_pad=True, **_):
    """The pooling output shape of a geometry (None when the geometry is invalid or empty)."""
    params = _pool_params(op, kernel, stride, padding, dilation, ceil_mode, count_include_pad)
    try:
        specs, _ = opset.infer(op.replace("_backward", ""), [opset.Spec((n, c, h, w), np.dtype(np.float32))],
                               params)
    except ValueError:
        return None
    return specs[0].shape


def _pool(op):
    def build(rng, dtype, n=1, c=1, h=1, w=1, kernel=1, stride=None, padding=0, dilation=1, ceil_mode=False,
              count_include_pad=True, ties=False):
        params = _pool_params(op, kernel, stride, padding, dilation, ceil_mode, count_include_pad)
        # ties: few distinct values, so windows hold equal maxima (which one gets max_pool's gradient matters)
        x = (rng.integers(-2, 3, size=(n, c, h, w)).astype(dtype) if ties else uniform(rng, (n, c, h, w), dtype))
        if not op.endswith("_backward"):
            return [x], params
        out = pool_output_shape(op, n, c, h, w, kernel, stride, padding, dilation, ceil_mode, count_include_pad)
        return [uniform(rng, out, dtype), x], params
    return build


def _adaptive(backward):
    def build(rng, dtype, n=1, c=1, h=1, w=1, oh=1, ow=1):
        x = uniform(rng, (n, c, h, w), dtype)
        return ([uniform(rng, (n, c, oh, ow), dtype), x] if backward else [x]), dict(output_size=(oh, ow))
    return build


def _embedding(rng, dtype, num=1, dim=1, index_shape=(1,)):
    return [uniform(rng, (num, dim), dtype), rng.integers(0, num, size=index_shape).astype(np.int64)], {}


def _embedding_backward(rng, dtype, num=1, dim=1, index_shape=(1,), padding_idx=-1):
    # Few rows for many indices: repeated indices, whose gradients must add up.
    indices = rng.integers(0, num, size=index_shape).astype(np.int64)
    return [uniform(rng, (*index_shape, dim), dtype), indices], dict(num_weights=num, padding_idx=padding_idx)


def _cat(rng, dtype, shapes=((1,),), axis=0):
    return [[uniform(rng, s, dtype) for s in shapes]], dict(axis=axis)


def _copy_strided(rng, dtype, size=1, shape=(1,), strides=(1,), offset=0):
    return [uniform(rng, (size,), dtype)], dict(shape=tuple(shape), strides=tuple(strides), offset=offset)


def _cast(rng, dtype, shape=(), to=None):
    if np.dtype(dtype) == opset.BFLOAT16 and to == "other":  # float32 rounded into bfloat16 (ties to even)
        return [uniform(rng, shape, np.float32, 1e3)], dict(dtype="bfloat16")
    other = {np.dtype(np.float32): "float64", np.dtype(np.float64): "float32"}.get(np.dtype(dtype))
    x = uniform(rng, shape, dtype, 1e3)
    return [x], dict(dtype=other if to == "other" else np.dtype(dtype).name)


def _fill(rng, dtype, shape=(), value=1.5):
    return [], dict(shape=tuple(shape), dtype=np.dtype(dtype).name, value=value)


def _random(op):
    def build(rng, dtype, shape=(), seed=0, offset=0):
        extra = dict(mean=0.5, std=2.0) if op == "random_normal" else dict(low=-1.0, high=3.0)
        return [], dict(shape=tuple(shape), dtype=np.dtype(dtype).name, seed=seed, offset=offset, **extra)
    return build


BUILDERS = {
    **{op: _unary(op) for op in UNARY},
    **{op: _binary(op) for op in BINARY},
    "gemm": _gemm, "bmm": _bmm,
    "conv2d": _conv2d, "conv2d_input_grad": _conv2d_input_grad, "conv2d_weight_grad": _conv2d_weight_grad,
    "add_bias": _add_bias, "sum_rows": _sum_rows, "softmax": _softmax, "softmax_backward": _softmax_backward,
    "layer_norm": _layer_norm, "layer_norm_backward": _layer_norm_backward,
    "sum": _reduce, "mean": _reduce,
    "batch_norm": _batch_norm, "batch_norm_stats": _batch_norm_stats, "batch_norm_backward": _batch_norm_backward,
    **{op: _pool(op) for op in ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward")},
    "adaptive_avg_pool2d": _adaptive(False), "adaptive_avg_pool2d_backward": _adaptive(True),
    "embedding": _embedding, "embedding_backward": _embedding_backward, "cat": _cat,
    "copy_strided": _copy_strided, "cast": _cast, "fill": _fill,
    "random_normal": _random("random_normal"), "random_uniform": _random("random_uniform"),
}
assert BUILDERS.keys() == opset.OPS.keys(), sorted(BUILDERS.keys() ^ opset.OPS.keys())


def build(op: str, rng, dtype, **geometry):
    """(inputs, params) of ``op`` for one geometry; see the builders above for each op's geometry keys."""
    return BUILDERS[op](rng, np.dtype(dtype).type, **geometry)


# --- the geometries the suite runs ------------------------------------------------------------------------

_SHAPES = [dict(shape=s) for s in [(), (0,), (1,), (1, 1), (7,), (3, 5), (2, 0, 4), (33, 65)]]
_SHAPES_MORE = [dict(shape=s) for s in [(17,), (4, 3, 129), (1001, 1003)]]
_ROWS = [dict(shape=s) for s in [(1,), (1, 1), (5, 7), (3, 4, 33), (0, 6), (257, 64)]]
_ROWS_MORE = [dict(shape=s) for s in [(1000, 257), (2, 3, 4, 5)]]

_CONV = [
    dict(),  # 1×1 everything
    dict(n=2, c=3, h=7, w=6, o=5, kh=3, kw=3, padding=1, bias=True),
    dict(n=1, c=4, h=9, w=8, o=6, kh=3, kw=2, stride=2, dilation=2, groups=2),
    dict(n=2, c=6, h=5, w=5, o=6, kh=3, kw=3, padding=(1, 0), groups=6, bias=True),  # depthwise
    dict(n=4, c=1, h=28, w=28, o=8, kh=1, kw=28, stride=2),  # im2col's strided view (issue 14, item 3)
]
_CONV_MORE = [
    dict(n=3, c=8, h=17, w=13, o=12, kh=5, kw=3, stride=(2, 1), padding=(2, 1), dilation=(1, 2), groups=4,
         bias=True),
    dict(n=1, c=16, h=12, w=12, o=16, kh=3, kw=3, padding=1, groups=16),
    dict(n=2, c=3, h=32, w=32, o=16, kh=7, kw=7, stride=2, padding=3),
]
_POOL = [
    dict(),
    dict(n=2, c=3, h=7, w=6, kernel=2),
    dict(n=1, c=2, h=9, w=8, kernel=3, stride=2, padding=1, ceil_mode=True),
    dict(n=2, c=2, h=8, w=7, kernel=(3, 2), stride=(2, 1), padding=(1, 1), count_include_pad=False),
    dict(n=1, c=3, h=6, w=6, kernel=2, stride=2, ties=True),
]
_MAX_POOL_ONLY = [dict(n=1, c=2, h=11, w=9, kernel=3, stride=2, padding=1, dilation=2)]
_POOL_MORE = [
    dict(n=2, c=4, h=15, w=14, kernel=(3, 4), stride=(2, 3), padding=(1, 2), ceil_mode=True,
         count_include_pad=False),
    dict(n=1, c=2, h=5, w=5, kernel=5, stride=1, padding=2, ceil_mode=True),
]

CASES: dict[str, list[dict]] = {
    **{op: _SHAPES + [dict(special=True)] for op in ELEMENTWISE},
    "gemm": [dict(), dict(m=3, k=5, n=7, trans_a=True), dict(m=4, k=6, n=5, trans_b=True, bias=True),
             dict(m=17, k=1000, n=3, trans_a=True, trans_b=True), dict(m=64, k=64, n=64, bias=True, activation="relu"),
             dict(m=5, k=7, n=3, bias=True, activation="gelu"), dict(m=0, k=4, n=3), dict(m=3, k=0, n=4, bias=True)],
    "bmm": [dict(), dict(batch=3, m=5, k=7, n=2, trans_a=True), dict(batch=2, m=4, k=300, n=3, trans_b=True),
            dict(batch=0, m=2, k=2, n=2), dict(batch=2, m=3, k=0, n=2)],
    "conv2d": _CONV, "conv2d_input_grad": _CONV, "conv2d_weight_grad": _CONV,
    "add_bias": _ROWS, "sum_rows": _ROWS,
    "softmax": _ROWS + [dict(shape=(4, 3), special=True)], "softmax_backward": _ROWS,
    "layer_norm": [r for r in _ROWS if r["shape"][-1]] + [dict(shape=(3, 5), affine=False, eps=0.1)],
    "layer_norm_backward": [r for r in _ROWS if r["shape"][-1]] + [dict(shape=(3, 5), affine=False, eps=0.1)],
    "sum": [dict(shape=()), dict(shape=(1, 1)), dict(shape=(3, 5), axes=1), dict(shape=(4, 3, 5), axes=(0, 2)),
            dict(shape=(2, 0, 3), axes=1, keepdims=True), dict(shape=(257, 33), axes=0)],
    "batch_norm": [dict(), dict(shape=(4, 3)), dict(shape=(2, 5, 3, 4)), dict(shape=(3, 2, 7), affine=False, eps=0.1)],
    "batch_norm_stats": [dict(), dict(shape=(4, 3)), dict(shape=(2, 5, 3, 4))],
    "batch_norm_backward": [dict(shape=(2, 1)), dict(shape=(4, 3)), dict(shape=(2, 5, 3, 4)),
                            dict(shape=(3, 2, 7), affine=False, eps=0.1)],
    "max_pool2d": _POOL + _MAX_POOL_ONLY, "max_pool2d_backward": _POOL + _MAX_POOL_ONLY,
    "avg_pool2d": _POOL, "avg_pool2d_backward": _POOL,
    "adaptive_avg_pool2d": [dict(), dict(n=2, c=3, h=7, w=5, oh=3, ow=2), dict(n=1, c=2, h=4, w=4, oh=4, ow=4),
                            dict(n=1, c=1, h=5, w=3, oh=7, ow=4)],
    "embedding": [dict(), dict(num=10, dim=7, index_shape=(3, 4)), dict(num=5, dim=3, index_shape=(0,))],
    "embedding_backward": [dict(), dict(num=3, dim=5, index_shape=(4, 6)), dict(num=4, dim=2, index_shape=(0,)),
                           dict(num=3, dim=5, index_shape=(4, 6), padding_idx=1)],
    "cat": [dict(), dict(shapes=((2, 3), (4, 3), (0, 3)), axis=0), dict(shapes=((2, 3, 1), (2, 3, 5)), axis=-1)],
    "copy_strided": [dict(), dict(size=12, shape=(4, 3), strides=(1, 4)),  # a transpose
                     dict(size=5, shape=(3, 5), strides=(0, 1)),  # a broadcast
                     dict(size=30, shape=(2, 3), strides=(10, 2), offset=7), dict(size=4, shape=(0, 3), strides=(3, 1))],
    "cast": [dict(), dict(shape=(3, 5), to="other"), dict(shape=(0, 2), to="other")],
    "fill": [dict(), dict(shape=(3, 5), value=-2.0), dict(shape=(2, 0)), dict(shape=(4,), value=float("nan"))],
    "random_normal": [dict(shape=(1,)), dict(shape=(33, 7), seed=3, offset=5), dict(shape=(0,))],
    "random_uniform": [dict(shape=(1,)), dict(shape=(33, 7), seed=3, offset=5), dict(shape=(0,))],
}
CASES["mean"] = CASES["sum"]

THOROUGH: dict[str, list[dict]] = {
    **{op: _SHAPES_MORE for op in ELEMENTWISE},
    "gemm": [dict(m=m, k=k, n=n, trans_a=ta, trans_b=tb, bias=True, activation=act)
             for (m, k, n) in [(1, 4096, 1), (73, 129, 65), (200, 3, 300)] for ta in (False, True)
             for tb in (False, True) for act in (None, "gelu")],
    "bmm": [dict(batch=4, m=33, k=65, n=17, trans_a=True, trans_b=True)],
    "conv2d": _CONV_MORE, "conv2d_input_grad": _CONV_MORE, "conv2d_weight_grad": _CONV_MORE,
    **{op: _ROWS_MORE for op in ("add_bias", "sum_rows", "softmax", "softmax_backward", "layer_norm",
                                 "layer_norm_backward")},
    "sum": [dict(shape=(5, 6, 7, 8), axes=(1, 3), keepdims=True), dict(shape=(1001, 1003))],
    "batch_norm": [dict(shape=(8, 16, 9, 9))], "batch_norm_stats": [dict(shape=(8, 16, 9, 9))],
    "batch_norm_backward": [dict(shape=(8, 16, 9, 9))],
    **{op: _POOL_MORE for op in ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward")},
    "adaptive_avg_pool2d": [dict(n=2, c=8, h=17, w=23, oh=5, ow=7)],
    "adaptive_avg_pool2d_backward": [dict(n=2, c=8, h=17, w=23, oh=5, ow=7)],
    "embedding": [dict(num=1000, dim=64, index_shape=(8, 32))],
    "embedding_backward": [dict(num=7, dim=64, index_shape=(8, 32))],
    "cat": [dict(shapes=tuple((3, k, 5) for k in range(1, 9)), axis=1)],
    "copy_strided": [dict(size=24, shape=(2, 3, 4), strides=(1, 8, 2))],
    "cast": [dict(shape=(1001, 1003), to="other")],
    "fill": [dict(shape=(1001, 1003), value=3.0)],
    "random_normal": [dict(shape=(1001, 1003), seed=11, offset=2)],
    "random_uniform": [dict(shape=(1001, 1003), seed=11, offset=2)],
}
THOROUGH["mean"] = THOROUGH["sum"]
CASES["adaptive_avg_pool2d_backward"] = CASES["adaptive_avg_pool2d"]


def cases(op: str, thorough: bool = False) -> list[dict]:
    """The geometries the suite runs for ``op``."""
    return CASES[op] + (THOROUGH.get(op, []) if thorough else [])


def reduction_length(op: str, inputs, params) -> int:
    """How many terms one output element accumulates (tolerances grow with its square root)."""
    if op in ("gemm", "bmm", "conv2d", "conv2d_input_grad", "conv2d_weight_grad"):
        specs, params = opset.infer(op, inputs, params)
        _, m, k, n = opset.work(op, inputs, specs, params).gemm
        return max(1, m, k, n)
    sizes = [math.prod(x.shape) for x in inputs if x is not None and not isinstance(x, list)]
    return max([1, *sizes])
