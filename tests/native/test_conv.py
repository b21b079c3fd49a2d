"""halkit._native conv2d and its input / weight gradients against the numpy reference driver.

Every result is compared with the reference run in float64, to within SUM_EPS times the same convolution of the
absolute values (the sum of |terms| each output adds up). Geometries cover strides, padding, dilation, groups
(depthwise, channel multipliers, grouped GEMMs), 1x1 pointwise, kernels larger than the padded input's stride
grid, odd sizes, empty batches, channels-last input, every ISA path and 1 and 2 threads.
"""
import numpy as np
import pytest
from conftest import DTYPES, close_sum, native, rnd

# (N, C, H, W), (O, kh, kw), stride, padding, dilation, groups
GEOMETRIES = [
    ((1, 1, 1, 1), (1, 1, 1), 1, 0, 1, 1),
    ((2, 3, 7, 9), (4, 3, 3), 1, 1, 1, 1),
    ((2, 3, 8, 8), (5, 3, 3), 2, 1, 1, 1),
    ((1, 4, 9, 7), (6, 2, 3), (2, 1), (0, 2), (1, 2), 2),
    ((3, 8, 6, 6), (8, 3, 3), 1, 1, 1, 8),          # depthwise
    ((2, 4, 10, 9), (8, 3, 3), 2, 1, 1, 4),         # depthwise, channel multiplier 2, stride 2
    ((2, 6, 5, 5), (6, 5, 5), 1, 2, 1, 3),          # small groups, big kernel
    ((2, 16, 12, 12), (32, 1, 1), 1, 0, 1, 1),      # pointwise: x is the GEMM operand
    ((2, 16, 12, 12), (32, 1, 1), 2, 0, 1, 1),      # strided 1x1
    ((2, 32, 9, 9), (16, 3, 3), 1, 1, 1, 2),        # grouped GEMMs
    ((1, 3, 33, 31), (8, 7, 7), 2, 3, 1, 1),        # a stem: 7x7 stride 2
    ((4, 64, 16, 16), (64, 3, 3), 1, 1, 1, 1),      # a ResNet block: many pixels, threads over images
    ((1, 64, 20, 20), (128, 3, 3), 2, 1, 1, 1),     # batch 1: threaded GEMM inside
    ((1, 2, 28, 28), (8, 1, 28), 2, 0, 1, 1),       # the issue-14 geometry (once a strided view to gemm)
    ((2, 3, 4, 4), (2, 3, 3), 3, 4, 2, 1),          # padding larger than the kernel, dilation
    ((2, 8, 32, 32), (16, 1, 1), 1, 0, 1, 1),       # pointwise, rows 4 KiB apart: read through a padded copy
    ((8, 128, 4, 4), (64, 3, 3), 1, 1, 1, 1),       # few pixels: images side by side in one GEMM, split by channels
    ((1, 16, 70, 70), (8, 3, 3), 1, 1, 1, 1),       # a big image: im2col in blocks of output rows
    ((2, 4, 21, 23), (4, 3, 5), 2, (1, 2), 1, 1),   # stride 2: the vector gather, odd widths
    ((0, 3, 5, 5), (2, 3, 3), 1, 1, 1, 1),          # empty batch
    ((2, 0, 5, 5), (3, 3, 3), 1, 1, 1, 1),          # no input channels: the bias alone
]


def case(rng, dtype, xs, ws, groups):
    n, c, h, w = xs
    o, kh, kw = ws
    x = rnd(rng, xs, dtype)
    wt = rnd(rng, (o, c // groups if groups else c, kh, kw), dtype)
    return x, wt, rnd(rng, (o,), dtype)


def f64(*arrays):
    return [None if a is None else a.astype(np.float64) for a in arrays]


def channels_last(x):
    """The same values, NHWC in memory (what torch's channels_last tensor looks like through NumPy)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_conv2d_forward(dtype, geometry, ref, isa, threads):
    xs, ws, stride, padding, dilation, groups = geometry
    rng = np.random.default_rng(1)
    x, w, b = case(rng, dtype, xs, ws, groups)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    for bias in (None, b):
        exact = ref.conv2d(*f64(x, w, bias), **kw)
        absum = ref.conv2d(*f64(np.abs(x), np.abs(w), None if bias is None else np.abs(bias)), **kw)
        close_sum(native.conv2d(x, w, bias, **kw), exact, absum, dtype)
        if x.ndim == 4 and x.size:
            close_sum(native.conv2d(channels_last(x), w, bias, **kw), exact, absum, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_conv2d_gradients(dtype, geometry, ref, isa, threads):
    xs, ws, stride, padding, dilation, groups = geometry
    rng = np.random.default_rng(2)
    x, w, _ = case(rng, dtype, xs, ws, groups)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = rnd(rng, ref.conv2d(x, w, **kw).shape, dtype)
    exact = ref.conv2d_input_grad(*f64(g, w), input_shape=x.shape, **kw)
    absum = ref.conv2d_input_grad(*f64(np.abs(g), np.abs(w)), input_shape=x.shape, **kw)
    close_sum(native.conv2d_input_grad(g, w, x.shape, **kw), exact, absum, dtype)
    ksize = w.shape[2:]
    exact = ref.conv2d_weight_grad(*f64(g, x), kernel_size=ksize, **kw)
    absum = ref.conv2d_weight_grad(*f64(np.abs(g), np.abs(x)), kernel_size=ksize, **kw)
    close_sum(native.conv2d_weight_grad(g, x, ksize, **kw), exact, absum, dtype)
    if x.size:
        close_sum(native.conv2d_weight_grad(g, channels_last(x), ksize, **kw), exact, absum, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_random_geometries(dtype, ref, threads):
    rng = np.random.default_rng(3)
    for _ in range(30):
        groups = int(rng.choice([1, 1, 2, 3]))
        c, o = groups * int(rng.integers(1, 6)), groups * int(rng.integers(1, 6))
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        stride, dilation = tuple(int(v) for v in rng.integers(1, 4, 2)), tuple(int(v) for v in rng.integers(1, 3, 2))
        padding = tuple(int(v) for v in rng.integers(0, 3, 2))
        h = int(rng.integers(dilation[0] * (kh - 1) + 1, 20))
        wd = int(rng.integers(dilation[1] * (kw - 1) + 1, 20))
        x, w, b = case(rng, dtype, (int(rng.integers(1, 4)), c, h, wd), (o, kh, kw), groups)
        kw_ = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        close_sum(native.conv2d(x, w, b, **kw_), ref.conv2d(*f64(x, w, b), **kw_),
                  ref.conv2d(*f64(np.abs(x), np.abs(w), np.abs(b)), **kw_), dtype)
        g = rnd(rng, ref.conv2d(x, w, **kw_).shape, dtype)
        close_sum(native.conv2d_input_grad(g, w, x.shape, **kw_),
                  ref.conv2d_input_grad(*f64(g, w), input_shape=x.shape, **kw_),
                  ref.conv2d_input_grad(*f64(np.abs(g), np.abs(w)), input_shape=x.shape, **kw_), dtype)
        close_sum(native.conv2d_weight_grad(g, x, (kh, kw), **kw_),
                  ref.conv2d_weight_grad(*f64(g, x), kernel_size=(kh, kw), **kw_),
                  ref.conv2d_weight_grad(*f64(np.abs(g), np.abs(x)), kernel_size=(kh, kw), **kw_), dtype)


def test_conv2d_inputs_untouched_and_nan_propagates():
    rng = np.random.default_rng(4)
    x, w, b = case(rng, np.float32, (2, 4, 6, 6), (4, 3, 3), 1)
    x[0, 1, 2, 3] = np.nan
    x0, w0 = x.copy(), w.copy()
    y = native.conv2d(x, w, b, padding=1)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)
    assert np.isnan(y[0, :, 1:4, 2:5]).all() and not np.isnan(y[1]).any() and not np.isnan(y[0, :, 5]).any()


f32 = lambda *s: np.ones(s, np.float32)  # noqa: E731


@pytest.mark.parametrize("call,match", [
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 2, 3, 3)), "channels"),
    (lambda: native.conv2d(f32(1, 4, 5, 5), f32(3, 2, 3, 3), groups=2), "divisible"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 7, 7)), "smaller than the dilated kernel"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 3, 3), stride=0), "stride"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 3, 3), padding=-1), "padding"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 3, 3), padding=2**62), "padding"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 3, 3), padding="same"), "padding"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 3, 3), dilation=(1, 2, 3)), "dilation"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 3, 3), groups=0), "groups"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 3, 3), groups=True), "groups"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 3, 3), f32(3)), "bias"),
    (lambda: native.conv2d(f32(3, 5, 5), f32(2, 3, 3, 3)), "4-D"),
    (lambda: native.conv2d(f32(1, 3, 5, 5), f32(2, 3, 0, 3)), "at least 1x1"),
    (lambda: native.conv2d_input_grad(f32(1, 2, 3, 3), f32(2, 3, 3, 3), (1, 3, 6, 6)), "grad has shape"),
    (lambda: native.conv2d_input_grad(f32(1, 2, 3, 3), f32(2, 3, 3, 3), (1, 3, 5)), "input_shape"),
    (lambda: native.conv2d_weight_grad(f32(1, 2, 3, 3), f32(1, 3, 5, 5), (2, 2)), "grad has shape"),
    (lambda: native.conv2d_weight_grad(f32(1, 2, 3, 3), f32(1, 3, 5, 5), 0), "kernel_size"),
    (lambda: native.conv2d(f32(1, 3, 5, 5)[:, :, ::2], f32(2, 3, 3, 3)), "C-contiguous"),
])
def test_conv2d_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
