"""halkit._native's bfloat16 GEMM against float64 truth and the numpy reference driver, on every route.

Routes: "widened" (operands widened to float32, the ISA's float32 GEMM; every ISA path) and "avx512_bf16"
(vdpbf16ps dot products over packed k-pairs; CPUs with AVX512_BF16). Error metric: the exact result (float64)
rounded to bfloat16 may differ from ours by one bf16 step (2^-7 relative: a float32 sum in another order can
land on the other side of a rounding boundary), plus the float32 summation error 1e-5 * (|A| @ |B| + |bias|).
Shapes straddle the dot route's boundaries: the 12-row x 32-column micro-tile, k-pairs (odd K: a half pair),
the 512-pair K block (K > 1024: float32 partial sums between blocks), the 512-column B block, 16-pair
transposes, and the row / column splits over 2 threads.
"""
import itertools
import math

import ml_dtypes
import numpy as np
import pytest
from conftest import native
from scipy.special import erf

BF16 = np.dtype(ml_dtypes.bfloat16)
ROUTES = ["widened"] + (["avx512_bf16"] if native.info()["cpu_avx512_bf16"] else [])

SHAPES = [(1, 1, 1), (1, 1, 2), (1, 7, 3), (3, 5, 7), (12, 32, 2), (13, 33, 33), (11, 31, 63), (12, 32, 64),
          (25, 65, 129), (24, 96, 1024), (13, 40, 1025), (7, 33, 2100), (50, 600, 40), (100, 70, 300),
          (200, 130, 96), (3, 300, 2048), (9, 150, 1500), (5, 150, 70), (9, 100, 33), (0, 4, 4), (4, 0, 4), (4, 4, 0),
          (17, 70, 2048), (13, 40, 2049)]  # packed route: K in one block (the most it takes), then in three


@pytest.fixture(autouse=True)
def _restore_route():
    isa, route = native.info()["isa"], native.info()["bf16_gemm"]
    yield
    native._use_isa(isa)  # first: the dot route runs on the avx512 path only
    native._use_bf16(route)


@pytest.fixture(params=ROUTES)
def route(request):
    native._use_bf16(request.param)
    return request.param


def bf16(rng, shape):
    return rng.standard_normal(shape).astype(np.float32).astype(BF16)


def check(a, b, ta, tb, bias=None, activation=0):
    c = native.gemm(a, b, ta, tb, bias, activation)
    A = (a.T if ta else a).astype(np.float64)
    B = (b.T if tb else b).astype(np.float64)
    exact, scale = A @ B, np.abs(A) @ np.abs(B)
    if bias is not None:
        exact, scale = exact + bias.astype(np.float64), scale + np.abs(bias.astype(np.float64))
    if activation == 1:
        exact = np.maximum(exact, 0)
    elif activation == 2:
        exact = 0.5 * exact * (1 + erf(exact / math.sqrt(2)))
    assert c.dtype == BF16 and c.shape == exact.shape and c.flags.c_contiguous
    tol = 2.0**-7 * np.abs(exact) + 1e-5 * 1.2 * scale + (1e-6 if activation == 2 else 0)
    err = np.abs(c.astype(np.float64) - exact)
    assert not (err > tol + 1e-30).any(), f"max err {err.max():.3g} at {np.unravel_index(np.argmax(err - tol), err.shape)}"
    return c


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_bf16_gemm_layouts(route, threads, M, N, K):
    native.set_num_threads(threads)
    rng = np.random.default_rng(M * 10007 + N * 101 + K)
    for ta, tb in itertools.product([False, True], repeat=2):
        a = bf16(rng, (K, M) if ta else (M, K))
        b = bf16(rng, (N, K) if tb else (K, N))
        check(a, b, ta, tb)


@pytest.mark.parametrize("activation", [0, 1, 2])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (13, 33, 31), (30, 70, 2100), (97, 65, 64)])
def test_bf16_gemm_bias_and_activation(route, activation, M, N, K):
    rng = np.random.default_rng(K)
    for tb in (False, True):
        a, b = bf16(rng, (M, K)), bf16(rng, (N, K) if tb else (K, N))
        check(a, b, False, tb, bf16(rng, (N,)), activation)


def test_bf16_gemm_on_every_isa_path(isa):
    # the widened route runs the float32 GEMM of the ISA path in use (the dot route needs the avx512 one)
    native._use_bf16("widened")
    rng = np.random.default_rng(1)
    check(bf16(rng, (37, 300)), bf16(rng, (45, 300)), False, True, bf16(rng, (45,)), 1)


def test_bf16_rounding_is_nearest_even_once(route):
    # each output is a sum of exact products rounded ONCE: 1 + 2^-8 is a tie (to 1.0, the even one),
    # 1 + 3 * 2^-9 is above it (to 1 + 2^-7), -(1 + 2^-8) ties to -1.0
    a = np.array([[1, 2**-8, 0], [1, 2**-9, 2**-8], [-1, -(2**-8), 0]], np.float32).astype(BF16)
    b = np.ones((3, 1), np.float32).astype(BF16)
    c = native.gemm(a, b, False, False, None, 0).astype(np.float32).ravel()
    np.testing.assert_array_equal(c, [1.0, 1 + 2**-7, -1.0])


def test_bf16_nan_and_inf_propagate(route):
    rng = np.random.default_rng(2)
    a, b = bf16(rng, (20, 70)), bf16(rng, (70, 40))
    a[3, 5] = np.nan
    a[7, 9] = np.inf
    b[:, 11] = 0  # inf * 0 = NaN in column 11 of row 7
    c = native.gemm(a, b, False, False, None, 0).astype(np.float32)
    assert np.isnan(c[3]).all()
    assert np.isnan(c[7, 11]) and np.isinf(np.delete(c[7], 11)).all()
    assert np.isfinite(np.delete(c, [3, 7], axis=0)).all()


def test_bf16_matches_the_reference_driver(route):
    from halkit.hal.builtin.numpy_reference import NumpyDriver

    rng = np.random.default_rng(3)
    a, w, bias = bf16(rng, (33, 250)), bf16(rng, (70, 250)), bf16(rng, (70,))
    ours = native.gemm(a, w, False, True, bias, 1).astype(np.float64)
    want = NumpyDriver().gemm(a, w, bias, False, True, "relu").astype(np.float64)
    assert np.all(np.abs(ours - want) <= 2.0**-7 * np.abs(want) + 1e-4)


def test_bf16_arguments_must_agree():
    a = np.ones((2, 3), BF16)
    with pytest.raises(TypeError, match="same dtype"):
        native.gemm(a, np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match="same dtype"):
        native.gemm(a, np.ones((3, 2), BF16), bias=np.ones(2, np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):  # the other ops do not take bfloat16
        native.relu(a)
    with pytest.raises(ValueError, match="_use_bf16"):
        native._use_bf16("amx")


@pytest.mark.skipif("avx512_bf16" not in ROUTES, reason="this CPU lacks AVX512_BF16: only the widened route runs")
def test_the_dot_route_needs_the_avx512_isa_path():
    native._use_isa("avx2")
    with pytest.raises(ValueError, match="_use_isa"):
        native._use_bf16("avx512_bf16")
    assert native.info()["bf16_gemm"] == "widened"


def test_subnormal_results_kept_widened_flushed_by_dot_products(route):
    # vdpbf16ps treats subnormal inputs as zero and flushes subnormal results (DAZ/FTZ, whatever MXCSR
    # says); the widened route sums in float32 like the reference and keeps them
    a = np.array([[1e-39], [1e-20], [3e-38]], np.float32).astype(BF16)
    b = np.array([[1.0, 1e-20, -0.5]], np.float32).astype(BF16)
    c = native.gemm(a, b, False, False, None, 0).astype(np.float32)
    want = (a.astype(np.float32) @ b.astype(np.float32)).astype(BF16).astype(np.float32)
    subnormal = (want != 0) & (np.abs(want) < np.finfo(np.float32).tiny)
    assert subnormal.sum() >= 3  # 1e-39 * 1, 1e-20 * 1e-20, 3e-38 * -0.5
    np.testing.assert_array_equal(c[~subnormal], want[~subnormal])
    np.testing.assert_array_equal(c[subnormal], want[subnormal] if route == "widened" else 0.0)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(), (0, 3), (1,), (17,), (3, 5, 7), (300_001,)])
def test_cast_bf16_matches_ml_dtypes_bit_for_bit(isa, threads, shape):
    native.set_num_threads(threads)  # 300001 elements split over the pool
    rng = np.random.default_rng(len(shape))
    x = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 38, shape), np.float32)  # 0-D stays an array
    if x.size >= 8:
        x.flat[:8] = [np.nan, np.inf, -np.inf, 1e-40, -0.0, 1 + 2**-8, 1 + 3 * 2**-9, 3.4e38]  # ties, specials
    y = native.cast_bf16(x)
    assert y.dtype == BF16 and y.shape == x.shape
    np.testing.assert_array_equal(y.view(np.uint16), x.astype(BF16).view(np.uint16))  # nearest even, NaN kept
    z = native.cast_bf16(y)
    assert z.dtype == np.float32 and z.shape == x.shape
    np.testing.assert_array_equal(z, y.astype(np.float32))  # widening is exact (NaN == NaN here)
    with pytest.raises(TypeError, match="bfloat16 or float32"):
        native.cast_bf16(x.astype(np.float64))
