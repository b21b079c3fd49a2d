"""halkit._native element-wise and last-axis ops against the numpy reference driver.

Shapes cover 0-D, empty, vector tails (1, 7, 17, 31, 33 elements), rows longer than a chunk and arrays past the
threading threshold; special values (NaN, +-inf, -0, huge) must give what the reference gives.
"""
import numpy as np
import pytest
from conftest import DTYPES, EW, RED, close, close_sum, native, rnd

EW_SHAPES = [(), (0,), (1,), (7,), (17,), (31,), (33,), (3, 5), (2, 0, 4), (33, 65), (4, 3, 129), (70001,),
             (301, 257), (200003,)]
UNARY = ["relu", "gelu", "tanh", "sigmoid", "silu", "hardswish", "sqrt", "exp"]
BACKWARD_OF_X = ["relu_backward", "gelu_backward", "silu_backward", "hardswish_backward"]
BACKWARD_OF_Y = {"tanh_backward": "tanh", "sigmoid_backward": "sigmoid"}
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0, 1e-30, -1e-30, 0.3, -0.3, 0.5, -0.5,
           20.0, -20.0, 88.5, -88.5, 89.0, 100.0, -100.0, 709.0, 710.0, -745.0]


def domain(name, x):
    return np.asarray(np.abs(x)) if name == "sqrt" else x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_reference(name, dtype, ref, isa):
    rng = np.random.default_rng(10)
    for shape in EW_SHAPES:
        x = domain(name, rnd(rng, shape, dtype, 8.0))
        close(getattr(native, name)(x), getattr(ref, name)(x), EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values(name, dtype, ref, isa):
    x = np.array(SPECIAL * 3, dtype=dtype)
    with np.errstate(all="ignore"):
        expected = getattr(ref, name)(x)
        got = getattr(native, name)(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    fin = np.isfinite(expected)
    # (float32 exp/sigmoid results below ~1e-38 are denormals in NumPy and 0 here: within atol)
    np.testing.assert_allclose(got[fin], expected[fin], **EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_left_tail(dtype, ref, isa, threads):
    # below -3 the cdf takes the erfc form (float: vector code, 0 past x = -12.7; the density 0 below float's
    # normal range); whole vectors of such lanes, as wide pre-activations give, and lanes mixed with others
    x = np.concatenate([np.linspace(-16, -3, 20011), np.linspace(-16, 16, 4099)]).astype(dtype)
    close(native.gelu(x), ref.gelu(x), EW[dtype])
    close(native.gelu_backward(np.ones_like(x), x), ref.gelu_backward(np.ones_like(x), x), EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_wide_range(dtype, ref, isa):
    x = np.linspace(-12, 12, 100003).astype(dtype)
    for name in ("gelu", "tanh", "sigmoid", "silu", "hardswish"):
        close(getattr(native, name)(x), getattr(ref, name)(x), EW[dtype])
    close(native.gelu_backward(np.ones_like(x), x), ref.gelu_backward(np.ones_like(x), x), EW[dtype])
    close(native.exp(x * 7), ref.exp(x * 7), EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_and_backward_match_reference(dtype, ref, isa):
    rng = np.random.default_rng(11)
    for shape in EW_SHAPES:
        a, b = rnd(rng, shape, dtype), rnd(rng, shape, dtype, 5.0)
        close(native.add(a, b), ref.add(a, b), EW[dtype])
        close(native.add(a, b, 0.25), ref.add(a, b, 0.25), EW[dtype])
        close(native.mul(a, b), ref.mul(a, b), EW[dtype])
        close(native.div(a, b), ref.div(a, b), EW[dtype])
        close(native.scale(b, -1.5, 0.75), ref.scale(b, -1.5, 0.75), EW[dtype])
        for name in BACKWARD_OF_X:
            close(getattr(native, name)(a, b), getattr(ref, name)(a, b), EW[dtype])
        for name, forward in BACKWARD_OF_Y.items():
            y = getattr(ref, forward)(b)
            close(getattr(native, name)(a, y), getattr(ref, name)(a, y), EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_special_values(dtype, ref):
    x = np.array(SPECIAL * 2, dtype=dtype)
    for g in (np.full_like(x, 2.0), np.full_like(x, np.nan), np.full_like(x, -np.inf)):
        for name in BACKWARD_OF_X:
            with np.errstate(all="ignore"):
                expected, got = getattr(ref, name)(g, x), getattr(native, name)(g, x)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=name)
            fin = np.isfinite(expected)
            np.testing.assert_allclose(got[fin], expected[fin], **EW[dtype], err_msg=name)
    # relu's gradient is torch's threshold_backward: NaN x keeps the gradient, x <= 0 zeroes even a NaN gradient
    g = np.full_like(x, 2.0)
    np.testing.assert_array_equal(native.relu_backward(g, x), np.where(x <= 0, 0, g))
    np.testing.assert_array_equal(native.relu_backward(np.full_like(x, np.nan), x), np.where(x <= 0, 0, np.nan))


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_bias_sum_rows(dtype, ref, threads):
    rng = np.random.default_rng(12)
    for shape in [(1,), (1, 1), (5, 7), (3, 4, 33), (1000, 257), (0, 6), (3, 0), (40000, 3), (513, 129),
                  (2, 3, 1030), (700, 257)]:
        x, b = rnd(rng, shape, dtype), rnd(rng, shape[-1:], dtype)
        close(native.add_bias(x, b), ref.add_bias(x, b), EW[dtype])
        assert ref.sum_rows(x).shape == (shape[-1],)
        x2 = x.astype(np.float64).reshape(int(np.prod(shape[:-1])), shape[-1])
        close_sum(native.sum_rows(x), x2.sum(0), np.abs(x2).sum(0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_backward(dtype, ref, isa, threads):
    rng = np.random.default_rng(13)
    for shape in [(1,), (7,), (3, 5), (33, 65), (4, 3, 129), (2, 1000), (257, 300), (0, 4), (5, 1), (300, 300)]:
        x = rnd(rng, shape, dtype, 20.0)
        y = native.softmax(x)
        close(y, ref.softmax(x), RED[dtype])
        g = rnd(rng, shape, dtype)
        close(native.softmax_backward(g, y), ref.softmax_backward(g, y), RED[dtype])
    big = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0, 1e30]], dtype=dtype)
    close(native.softmax(big), ref.softmax(big), RED[dtype])
    x = np.array([[1.0, np.nan, 2.0], [1.0, np.inf, 2.0], [0.0, 1.0, 2.0]], dtype=dtype)
    with np.errstate(invalid="ignore"):
        expected = ref.softmax(x)
    y = native.softmax(x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_allclose(y[2], expected[2], **RED[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_and_backward(dtype, ref, isa, threads):
    rng = np.random.default_rng(14)
    for shape in [(1,), (7,), (3, 5), (33, 65), (4, 3, 129), (300, 1024), (0, 8), (2000, 33)]:
        x = rnd(rng, shape, dtype, 3.0) + dtype(1.5)
        n = shape[-1]
        w, b = rnd(rng, (n,), dtype), rnd(rng, (n,), dtype)
        g = rnd(rng, shape, dtype)
        for ww, bb in [(None, None), (w, None), (None, b), (w, b)]:
            close(native.layer_norm(x, ww, bb, 1e-5), ref.layer_norm(x, ww, bb, 1e-5), RED[dtype])
        for ww in (None, w):
            close(native.layer_norm_backward(g, x, ww, 1e-5), ref.layer_norm_backward(g, x, ww, 1e-5),
                  {np.float32: dict(rtol=1e-4, atol=2e-5), np.float64: RED[np.float64]}[dtype])
    c = np.full((2, 16), 3.0, dtype)  # zero variance: (x - mean) / sqrt(eps) = 0
    np.testing.assert_array_equal(native.layer_norm(c, None, None, 1e-5), np.zeros_like(c))


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_threads_agree(dtype):
    rng = np.random.default_rng(15)
    x = rnd(rng, (300, 1001), dtype, 4.0)
    b = rnd(rng, (1001,), dtype)
    out = []
    for n in (1, 2):
        native.set_num_threads(n)
        out.append([native.gelu(x), native.relu(x), native.tanh(x), native.silu(x), native.add_bias(x, b),
                    native.softmax(x), native.layer_norm(x, b, b, 1e-5), native.sum_rows(x),
                    native.gelu_backward(x, x), *native.layer_norm_backward(x, x, b, 1e-5)])
    for u, v in zip(*out):
        np.testing.assert_allclose(u, v, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-5)
