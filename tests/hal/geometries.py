"""Hypothesis strategies for every op's geometry: the keyword arguments of halkit.cts.samples' builders.

Each strategy draws only valid geometries (non-empty conv/pool outputs, in-range strided views...), so a
failing example is a wrong result, never a refused input; shrinking makes it small.
"""
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from halkit.cts import samples

SIDE = 7


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=SIDE):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def _shape(min_dims=0, **kw):
    return st.fixed_dictionaries({"shape": shapes(min_dims, **kw)})


def _pair(low, high):
    """An int or an (h, w) pair of ints, as conv/pool parameters accept."""
    return st.one_of(st.integers(low, high), st.tuples(st.integers(low, high), st.integers(low, high)))


def _hw(value):
    return (value, value) if isinstance(value, int) else value


@st.composite
def conv(draw):
    groups, per_in, per_out = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, padding, dilation = draw(_pair(1, 3)), draw(_pair(0, 2)), draw(_pair(1, 3))
    (ph, pw), (dh, dw) = _hw(padding), _hw(dilation)
    min_h, min_w = max(1, dh * (kh - 1) + 1 - 2 * ph), max(1, dw * (kw - 1) + 1 - 2 * pw)
    return dict(n=draw(st.integers(1, 2)), c=groups * per_in, o=groups * per_out, groups=groups, kh=kh, kw=kw,
                h=draw(st.integers(min_h, min_h + 6)), w=draw(st.integers(min_w, min_w + 6)), stride=stride,
                padding=padding, dilation=dilation, bias=draw(st.booleans()))


def pool(op):
    @st.composite
    def draw_pool(draw):
        kernel = draw(_pair(1, 4))
        kh, kw = _hw(kernel)
        padding = draw(st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2)))
        geometry = dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, 2)), h=draw(st.integers(1, 10)),
                        w=draw(st.integers(1, 10)), kernel=kernel, stride=draw(st.none() | _pair(1, 3)),
                        padding=padding, ceil_mode=draw(st.booleans()), ties=draw(st.booleans()))
        if op.startswith("max"):
            geometry["dilation"] = draw(_pair(1, 2))
        else:
            geometry["count_include_pad"] = draw(st.booleans())
        out = samples.pool_output_shape(op, **geometry)
        assume(out is not None and not _padding_only_window(geometry, out))
        return geometry
    return draw_pool()


def _padding_only_window(g, out) -> bool:
    """Does some window lie entirely in the padding? (torch's max_pool2d backward writes out of bounds there,
    so it cannot judge; tests/hal/test_reference_vs_torch.py pins halkit's answer for it.)"""
    for size, o, k, s, p, d in zip((g["h"], g["w"]), out[2:], _hw(g["kernel"]), _hw(g["stride"] or g["kernel"]),
                                   _hw(g["padding"]), _hw(g.get("dilation", 1))):
        for start in range(0, o * s, s):
            if all(not 0 <= start - p + j * d < size for j in range(k)):
                return True
    return False


@st.composite
def reduction(draw):
    shape = draw(shapes())
    if draw(st.booleans()) or not shape:
        axes = None
    else:
        picked = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
        axes = tuple(a - len(shape) if draw(st.booleans()) else a for a in picked)  # negative axes too
    return dict(shape=shape, axes=axes, keepdims=draw(st.booleans()))


@st.composite
def cat(draw):
    base = draw(shapes(1, 3, max_side=4))
    axis = draw(st.integers(-len(base), len(base) - 1))
    sizes = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))
    return dict(shapes=tuple(base[:axis % len(base)] + (s,) + base[axis % len(base) + 1:] for s in sizes), axis=axis)


@st.composite
def copy_strided(draw):
    shape = draw(shapes(0, 3, max_side=5))
    strides = tuple(draw(st.integers(0, 6)) for _ in shape)
    reach = sum((d - 1) * s for d, s in zip(shape, strides)) if all(shape) else 0
    size = draw(st.integers(reach + 1, reach + 10))
    return dict(size=size, shape=shape, strides=strides, offset=draw(st.integers(0, size - reach - 1)))


def _rows(min_last=0):
    return shapes(1).filter(lambda s: s[-1] >= min_last)


def _channels(min_side=0):
    return shapes(2, 4, min_side=min_side)


_ELEMENTWISE = _shape()
GEOMETRY = {
    **{op: _ELEMENTWISE for op in samples.ELEMENTWISE},
    "gemm": st.fixed_dictionaries(dict(m=st.integers(0, 33), k=st.integers(0, 70), n=st.integers(0, 33),
                                       trans_a=st.booleans(), trans_b=st.booleans(), bias=st.booleans(),
                                       activation=st.sampled_from([None, "relu", "gelu"]))),
    "bmm": st.fixed_dictionaries(dict(batch=st.integers(0, 3), m=st.integers(0, 17), k=st.integers(0, 17),
                                      n=st.integers(0, 17), trans_a=st.booleans(), trans_b=st.booleans())),
    "conv2d": conv(), "conv2d_input_grad": conv(), "conv2d_weight_grad": conv(),
    "add_bias": st.fixed_dictionaries({"shape": _rows()}), "sum_rows": st.fixed_dictionaries({"shape": _rows()}),
    "softmax": st.fixed_dictionaries({"shape": _rows()}), "softmax_backward": st.fixed_dictionaries({"shape": _rows()}),
    "layer_norm": st.fixed_dictionaries({"shape": _rows(1), "affine": st.booleans(),
                                         "eps": st.sampled_from([1e-5, 0.1])}),
    "layer_norm_backward": st.fixed_dictionaries({"shape": _rows(1), "affine": st.booleans(),
                                                  "eps": st.sampled_from([1e-5, 0.1])}),
    "sum": reduction(), "mean": reduction(),
    # at least one channel: torch's batch_norm indexes channel 0 even for an empty batch
    "batch_norm": st.fixed_dictionaries({"shape": _channels().filter(lambda s: s[1] > 0), "affine": st.booleans()}),
    "batch_norm_stats": st.fixed_dictionaries({"shape": _channels(1)}),
    # torch refuses training-mode batch norm with one value per channel (the gradient is 0 there; tested apart)
    "batch_norm_backward": st.fixed_dictionaries({"shape": _channels(1).filter(lambda s: np.prod(s) > s[1]),
                                                  "affine": st.booleans()}),
    **{op: pool(op) for op in ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward")},
    **{op: st.fixed_dictionaries(dict(n=st.integers(1, 2), c=st.integers(1, 2), h=st.integers(1, 9),
                                      w=st.integers(1, 9), oh=st.integers(1, 9), ow=st.integers(1, 9)))
       for op in ("adaptive_avg_pool2d", "adaptive_avg_pool2d_backward")},
    "embedding": st.fixed_dictionaries(dict(num=st.integers(1, 9), dim=st.integers(0, 6), index_shape=shapes(0, 3))),
    "embedding_backward": st.fixed_dictionaries(dict(num=st.integers(1, 9), dim=st.integers(0, 6),
                                                     index_shape=shapes(0, 3), padding_idx=st.integers(-1, 0))),
    "cat": cat(), "copy_strided": copy_strided(),
    "cast": st.fixed_dictionaries({"shape": shapes(), "to": st.sampled_from([None, "other"])}),
    "fill": st.fixed_dictionaries({"shape": shapes(), "value": st.floats(allow_nan=True, width=32)}),
    **{op: st.fixed_dictionaries(dict(shape=shapes(), seed=st.integers(0, 2**32 - 1), offset=st.integers(0, 99)))
       for op in ("random_normal", "random_uniform")},
}
assert GEOMETRY.keys() == samples.BUILDERS.keys(), sorted(GEOMETRY.keys() ^ samples.BUILDERS.keys())


def float_arrays(dtype, shape):
    """Arrays of any float values of ``dtype``: NaN, ±inf, ±0, subnormals and huge ones included."""
    return hnp.arrays(np.dtype(dtype), shape, elements=st.floats(width=np.dtype(dtype).itemsize * 8))
