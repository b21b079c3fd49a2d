"""halkit._native max / average / adaptive average pooling and their backward passes against the numpy reference."""
import numpy as np
import pytest
from conftest import DTYPES, RED, close, native, rnd

# (N, C, H, W), kernel_size, stride, padding, dilation, ceil_mode
POOLS = [
    ((1, 1, 1, 1), 1, None, 0, 1, False),
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((2, 3, 9, 7), 3, 2, 1, 1, False),      # ResNet's stem pool
    ((2, 3, 9, 7), 3, 2, 1, 1, True),
    ((1, 2, 10, 11), (3, 2), (2, 3), (1, 0), (2, 1), False),
    ((1, 2, 10, 11), (3, 2), (2, 3), (1, 1), 1, True),
    ((3, 4, 5, 5), 5, 1, 2, 1, False),
    ((2, 2, 7, 7), 2, 3, 1, 1, True),        # ceil mode: the last window starts in the input
    ((8, 64, 32, 32), 3, 2, 1, 1, False),    # big enough for threads
]
# Max pooling's separable kernel (and the backward's lanes): rows wider than a vector with tails, odd and even
# widths, stride 2 with odd and even tap offsets (dilation), stride 1, generic strides (up to 16 in lanes, past
# 16 window by window), asymmetric windows
MAX_POOLS = POOLS + [
    ((1, 3, 5, 37), 3, 2, 1, 1, False),
    ((1, 3, 6, 38), (2, 4), 2, (1, 2), 1, True),
    ((1, 2, 9, 41), 3, 2, 1, 2, False),
    ((1, 2, 9, 40), 3, (1, 2), 0, (1, 3), True),
    ((2, 2, 17, 35), 3, 1, 1, 1, False),
    ((1, 2, 11, 33), (2, 5), 1, (1, 2), (3, 2), False),
    ((1, 2, 13, 29), 4, 3, 2, 1, True),
    ((1, 2, 6, 60), 3, (2, 17), 1, 1, True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", MAX_POOLS, ids=str)
def test_max_pool(dtype, geometry, ref, isa, threads):
    shape, k, s, p, d, ceil = geometry
    rng = np.random.default_rng(1)
    x = rnd(rng, shape, dtype)
    x.flat[::7] = x.flat[1::7]  # ties: the gradient must go to the first maximum
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    y = native.max_pool2d(x, **kw)
    close(y, ref.max_pool2d(x, **kw), dict(rtol=0, atol=0))
    g = rnd(rng, y.shape, dtype)
    close(native.max_pool2d_backward(g, x, **kw), ref.max_pool2d_backward(g, x, **kw), RED[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", MAX_POOLS[-8:], ids=str)
def test_max_pool_scattered_nan_and_inf(dtype, geometry, ref, isa):
    shape, k, s, p, d, ceil = geometry
    rng = np.random.default_rng(2)
    x = rnd(rng, shape, dtype)
    for value, share in ((np.nan, 0.03), (np.inf, 0.02), (-np.inf, 0.05)):
        x[rng.random(shape) < share] = value
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    y = native.max_pool2d(x, **kw)
    close(y, ref.max_pool2d(x, **kw), dict(rtol=0, atol=0))
    g = rnd(rng, y.shape, dtype)  # the gradient goes to the first NaN, else the first maximum
    close(native.max_pool2d_backward(g, x, **kw), ref.max_pool2d_backward(g, x, **kw), RED[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_nan_and_inf(dtype, ref):
    x = np.array([[[[1, np.nan, 3, 4], [5, 6, np.nan, 8], [-np.inf, -np.inf, 2, np.inf], [0, 1, 2, 3]]]], dtype)
    kw = dict(kernel_size=2, stride=2)
    y = native.max_pool2d(x, **kw)
    close(y, ref.max_pool2d(x, **kw), dict(rtol=0, atol=0))
    g = np.arange(1, y.size + 1, dtype=dtype).reshape(y.shape)
    close(native.max_pool2d_backward(g, x, **kw), ref.max_pool2d_backward(g, x, **kw), dict(rtol=0, atol=0))
    # a window of -inf sends its gradient to its first position inside the input (torch's rule)
    x = np.full((1, 1, 3, 3), -np.inf, dtype)
    dx = native.max_pool2d_backward(np.ones((1, 1, 2, 2), dtype), x, kernel_size=2, stride=2, padding=1)
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", POOLS, ids=str)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool(dtype, geometry, count_include_pad, ref, threads):
    shape, k, s, p, d, ceil = geometry
    rng = np.random.default_rng(2)
    x = rnd(rng, shape, dtype)
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=count_include_pad)
    y = native.avg_pool2d(x, **kw)
    close(y, ref.avg_pool2d(x, **kw), RED[dtype])
    g = rnd(rng, y.shape, dtype)
    close(native.avg_pool2d_backward(g, x, **kw), ref.avg_pool2d_backward(g, x, **kw), RED[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_avg_pool(dtype, ref, threads):
    rng = np.random.default_rng(3)
    for shape, out in [((1, 1, 1, 1), 1), ((2, 3, 7, 7), 1), ((2, 3, 7, 9), (3, 4)), ((2, 3, 5, 5), 7),
                       ((8, 512, 2, 2), (1, 1)), ((1, 2, 10, 3), (4, 2))]:
        x = rnd(rng, shape, dtype)
        y = native.adaptive_avg_pool2d(x, out)
        close(y, ref.adaptive_avg_pool2d(x, out), RED[dtype])
        g = rnd(rng, y.shape, dtype)
        close(native.adaptive_avg_pool2d_backward(g, x, out), ref.adaptive_avg_pool2d_backward(g, x, out), RED[dtype])


f32 = lambda *s: np.ones(s, np.float32)  # noqa: E731


@pytest.mark.parametrize("call,match", [
    (lambda: native.max_pool2d(f32(2, 3, 4), 2), "4-D"),
    (lambda: native.max_pool2d(f32(1, 1, 4, 4), 0), "kernel_size"),
    (lambda: native.max_pool2d(f32(1, 1, 4, 4), 2, padding=2), "half the kernel"),
    (lambda: native.max_pool2d(f32(1, 1, 2, 2), 3), "smaller than the pooling window"),
    (lambda: native.avg_pool2d(f32(1, 1, 4, 4), 2, stride=0), "stride"),
    (lambda: native.max_pool2d_backward(f32(1, 1, 3, 3), f32(1, 1, 4, 4), 2), "grad has shape"),
    (lambda: native.adaptive_avg_pool2d(f32(1, 1, 4, 4), 0), "output_size"),
    (lambda: native.adaptive_avg_pool2d_backward(f32(1, 1, 2, 2), f32(1, 1, 4, 4), 3), "grad has shape"),
])
def test_pool_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("dtype", DTYPES)
def test_ceil_mode_window_larger_than_input(dtype, ref):
    # torch (and the reference) give one clipped window when ceil_mode lets it start inside the input
    x = np.array([[[[3.0]]]], dtype)
    for name in ("max_pool2d", "avg_pool2d"):
        close(getattr(native, name)(x, 2, ceil_mode=True), getattr(ref, name)(x, 2, ceil_mode=True), RED[dtype])
    g = np.ones((1, 1, 1, 1), dtype)
    close(native.avg_pool2d_backward(g, x, 2, ceil_mode=True, count_include_pad=False),
          ref.avg_pool2d_backward(g, x, 2, ceil_mode=True, count_include_pad=False), RED[dtype])
