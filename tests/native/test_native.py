"""halkit._native against NumPy/SciPy, function by function (correctness only, never timing).

GEMM error metric: |C - C_exact| <= tol * (|op(A)| @ |op(B)| + |bias|) componentwise,
with C_exact computed in float64 (tol 1e-5 for float32 up to K = 4096, 1e-12 for float64).
"""
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

native = pytest.importorskip("halkit._native", reason="native extension not built: run `python -m halkit.build`")
erf = pytest.importorskip("scipy.special").erf

DTYPES = [np.float32, np.float64]
GEMM_TOL = {np.float32: 1e-5, np.float64: 1e-12}
EW = {np.float32: dict(rtol=2e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
RED = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}
INV_SQRT2 = 1.0 / math.sqrt(2.0)


@pytest.fixture(autouse=True)
def _restore_threads():
    n = native.get_num_threads()
    yield
    native.set_num_threads(n)


def rnd(rng, shape, dtype, scale=1.0):
    return np.asarray(rng.uniform(-scale, scale, size=shape), dtype=dtype)


def gelu_ref(x):
    x = x.astype(np.float64)
    return 0.5 * x * (1.0 + erf(x * INV_SQRT2))


def act_ref(y, activation):
    if activation == 1:
        return np.maximum(y, 0)
    if activation == 2:
        return gelu_ref(y)
    return y


def check_gemm(a, b, ta, tb, bias=None, activation=0, out=None):
    dtype = a.dtype.type
    c = native.gemm(a, b, ta, tb, bias, activation) if out is None else out
    A = (a.T if ta else a).astype(np.float64)
    B = (b.T if tb else b).astype(np.float64)
    exact = A @ B
    scale = np.abs(A) @ np.abs(B)
    if bias is not None:
        exact = exact + bias
        scale = scale + np.abs(bias.astype(np.float64))
    assert c.shape == exact.shape and c.dtype == a.dtype and c.flags.c_contiguous
    if c.size == 0:
        return c
    # the activations are 1.13-Lipschitz; gelu adds its own (tiny) approximation error
    tol = GEMM_TOL[dtype] * 1.2 * scale + (EW[dtype]["atol"] if activation == 2 else 0)
    err = np.abs(c - act_ref(exact, activation))
    bad = err > tol + np.finfo(np.float64).tiny
    assert not bad.any(), f"max err {err.max():.3g} at {np.unravel_index(np.argmax(err - tol), err.shape)}"
    return c


def operands(rng, M, N, K, ta, tb, dtype):
    a = rnd(rng, (K, M) if ta else (M, K), dtype)
    b = rnd(rng, (N, K) if tb else (K, N), dtype)
    return a, b


def tile_edges():
    mr, nr = native.info()["gemm_tile_f32"]
    return mr, nr


# ----------------------------------------------------------------------------- GEMM

SMALL_SHAPES = [(1, 1, 1), (1, 1, 7), (1, 17, 1), (13, 1, 5), (2, 3, 4), (7, 11, 13), (31, 37, 41), (1, 64, 64),
                (12, 32, 256), (13, 33, 257), (11, 31, 255), (24, 64, 512), (25, 65, 513), (48, 100, 3),
                (49, 129, 70), (97, 33, 19)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_gemm_small_and_edge_shapes(dtype, ta, tb):
    rng = np.random.default_rng(1)
    for M, N, K in SMALL_SHAPES:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        check_gemm(a, b, ta, tb)


BLOCK_SHAPES = [
    (145, 259, 513),   # straddles MC=144 (f32), KC=512 -> two K blocks
    (143, 255, 511),
    (97, 96, 385),     # f64 MC=96, KC=384
    (95, 33, 1025),    # three K blocks (f32)
    (121, 31, 300),
    (4, 77, 1000),     # first row count past the GEMV paths
    (3, 77, 1000),     # last row count of the GEMV paths, N tail < vector width
    (72, 100, 600),    # last row count of the streaming-B path (6 x MR)
    (73, 100, 600),    # first packed-path row count
    (61, 1025, 130),   # skinny M (streaming-B path) with an N edge
    (1, 1000, 1030),   # batch-1
    (8, 300, 2049),
    (200, 4100, 20),   # NC=4096 (f32) boundary
    (3, 2050, 33),     # NC=2048 (f64) boundary
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_block_boundaries(dtype, ta, tb):
    rng = np.random.default_rng(2)
    for M, N, K in BLOCK_SHAPES:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        check_gemm(a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_long_k(dtype):
    rng = np.random.default_rng(3)
    for M, N, K, ta, tb in [(33, 47, 4096, False, False), (5, 70, 4096, False, True), (64, 64, 3000, True, False)]:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        check_gemm(a, b, ta, tb)
    # GEMV path with an N edge narrower than a vector and K over its 4096 edge block, fused epilogue
    a, b = operands(rng, 2, 37, 9000, False, False, dtype)
    check_gemm(a, b, False, False, rnd(rng, (37,), dtype), 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [0, 1, 2])
@pytest.mark.parametrize("with_bias", [False, True])
def test_gemm_bias_activation(dtype, activation, with_bias):
    rng = np.random.default_rng(4)
    for (M, N, K), ta, tb in [((1, 1, 1), False, False), ((7, 45, 300), False, True), ((64, 96, 64), True, False),
                              ((130, 70, 520), False, True), ((3, 200, 600), False, False)]:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        a *= 3  # push values through both sides of relu/gelu
        bias = rnd(rng, (N,), dtype, 2.0) if with_bias else None
        check_gemm(a, b, ta, tb, bias, activation)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_zero_size(dtype):
    rng = np.random.default_rng(5)
    for M, N, K in [(0, 5, 3), (5, 0, 3), (0, 0, 0), (4, 6, 0), (1, 1, 0), (0, 3, 0)]:
        for ta in (False, True):
            for tb in (False, True):
                a, b = operands(rng, M, N, K, ta, tb, dtype)
                c = native.gemm(a, b, ta, tb)
                assert c.shape == (M, N) and c.dtype == dtype
                assert (c == 0).all()
    # K = 0: zeros + bias, then the activation
    bias = np.array([-1.0, 0.5, 2.0], dtype=dtype)
    a, b = np.zeros((2, 0), dtype), np.zeros((0, 3), dtype)
    np.testing.assert_array_equal(native.gemm(a, b, bias=bias), np.tile(bias, (2, 1)))
    np.testing.assert_array_equal(native.gemm(a, b, bias=bias, activation=1), np.tile(np.maximum(bias, 0), (2, 1)))
    np.testing.assert_allclose(native.gemm(a, b, bias=bias, activation=2), np.tile(gelu_ref(bias), (2, 1)), **EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_random_shapes(dtype):
    rng = np.random.default_rng(6)
    for _ in range(25):
        M, N, K = (int(v) for v in rng.integers(1, 300, size=3))
        ta, tb = bool(rng.integers(2)), bool(rng.integers(2))
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        bias = rnd(rng, (N,), dtype) if rng.integers(2) else None
        check_gemm(a, b, ta, tb, bias, int(rng.integers(3)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_threads_agree(dtype):
    rng = np.random.default_rng(7)
    for M, N, K, ta, tb in [(300, 260, 270, False, False), (2, 900, 300, False, False), (500, 20, 200, False, True),
                            (64, 512, 512, False, True), (130, 130, 130, True, True)]:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        bias = rnd(rng, (N,), dtype)
        native.set_num_threads(1)
        c1 = check_gemm(a, b, ta, tb, bias, 1)
        native.set_num_threads(2)
        c2 = check_gemm(a, b, ta, tb, bias, 1)
        native.set_num_threads(3)  # more threads than cores must still be correct
        c3 = check_gemm(a, b, ta, tb, bias, 1)
        scale = np.abs(c1).max() + 1
        assert np.abs(c1 - c2).max() <= GEMM_TOL[dtype] * scale
        assert np.abs(c1 - c3).max() <= GEMM_TOL[dtype] * scale


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_inputs_untouched_and_fresh_output(dtype):
    rng = np.random.default_rng(8)
    a, b = rnd(rng, (40, 50), dtype), rnd(rng, (50, 60), dtype)
    bias = rnd(rng, (60,), dtype)
    a0, b0, bias0 = a.copy(), b.copy(), bias.copy()
    c = native.gemm(a, b, bias=bias, activation=2)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(bias, bias0)
    assert not np.shares_memory(c, a) and not np.shares_memory(c, b) and c.flags.owndata


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_nan_inf_propagate_like_numpy(dtype):
    rng = np.random.default_rng(9)
    for M, N, K, ta, tb in [(5, 7, 3, False, False), (30, 70, 300, False, True), (13, 40, 600, True, False)]:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        A = a.T if ta else a
        B = b.T if tb else b
        A[1, 2] = np.nan
        A[3, 0] = np.inf
        B[1, 4] = -np.inf
        B[K - 1, N - 1] = np.nan
        with np.errstate(invalid="ignore", over="ignore"):
            ref = A.astype(np.float64) @ B.astype(np.float64)
        for activation in (0, 1):
            c = native.gemm(a, b, ta, tb, None, activation)
            r = act_ref(ref, activation)
            np.testing.assert_array_equal(np.isnan(c), np.isnan(r))
            np.testing.assert_array_equal(np.isinf(c), np.isinf(r))
            fin = np.isfinite(r)
            np.testing.assert_allclose(c[fin], r[fin], rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- element-wise

EW_SHAPES = [(), (0,), (1,), (7,), (17,), (31,), (33,), (3, 5), (2, 0, 4), (33, 65), (4, 3, 129), (70001,), (301, 257), (200003,)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_gelu(dtype):
    rng = np.random.default_rng(10)
    for shape in EW_SHAPES:
        x = rnd(rng, shape, dtype, 6.0)
        y = native.relu(x)
        assert y.shape == x.shape and y.dtype == dtype and not np.shares_memory(x, y)
        np.testing.assert_array_equal(y, np.maximum(x, dtype(0)))
        g = native.gelu(x)
        assert g.shape == x.shape and g.dtype == dtype
        np.testing.assert_allclose(g, gelu_ref(x), **EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_wide_range(dtype):
    x = np.linspace(-12, 12, 100003).astype(dtype)
    np.testing.assert_allclose(native.gelu(x), gelu_ref(x), **EW[dtype])
    g = np.ones_like(x)
    d = 0.5 * (1 + erf(x.astype(np.float64) * INV_SQRT2)) + x * np.exp(-0.5 * x.astype(np.float64) ** 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(native.gelu_backward(g, x), d, **EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_inf_elementwise(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, np.nan, 3.0] * 5, dtype=dtype)
    np.testing.assert_array_equal(native.relu(x), np.maximum(x, dtype(0)))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(np.isnan(native.gelu(x)), np.isnan(gelu_ref(x)))
        fin = np.isfinite(gelu_ref(x))
        np.testing.assert_allclose(native.gelu(x)[fin], gelu_ref(x)[fin], **EW[dtype])
    assert native.gelu(np.array([np.inf], dtype))[0] == np.inf
    g = np.full_like(x, 2.0)
    # torch's threshold_backward: NaN x keeps the gradient, x <= 0 zeroes even a NaN/inf gradient
    np.testing.assert_array_equal(native.relu_backward(g, x), np.where(x <= 0, 0, g))
    np.testing.assert_array_equal(native.relu_backward(np.full_like(x, np.nan), x), np.where(x <= 0, 0, np.nan))
    np.testing.assert_array_equal(native.add(x, x), x + x)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(native.mul(x, x), x * x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_ops(dtype):
    rng = np.random.default_rng(11)
    for shape in EW_SHAPES:
        a, b = rnd(rng, shape, dtype), rnd(rng, shape, dtype, 4.0)
        np.testing.assert_array_equal(native.add(a, b), a + b)
        np.testing.assert_array_equal(native.mul(a, b), a * b)
        np.testing.assert_array_equal(native.relu_backward(a, b), a * (b > 0))
        x = b.astype(np.float64)
        d = 0.5 * (1 + erf(x * INV_SQRT2)) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        np.testing.assert_allclose(native.gelu_backward(a, b), a * d, **EW[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_bias_sum_rows(dtype):
    rng = np.random.default_rng(12)
    for shape in [(1,), (1, 1), (5, 7), (3, 4, 33), (1000, 257), (0, 6), (3, 0), (40000, 3), (513, 129), (2, 3, 1030), (700, 257)]:
        x, b = rnd(rng, shape, dtype), rnd(rng, shape[-1:], dtype)
        y = native.add_bias(x, b)
        assert y.shape == x.shape and y.dtype == dtype
        np.testing.assert_array_equal(y, x + b)
        s = native.sum_rows(x)
        assert s.shape == (shape[-1],) and s.dtype == dtype
        np.testing.assert_allclose(s, x.astype(np.float64).reshape(math.prod(shape[:-1]), shape[-1]).sum(0), **RED[dtype])


def softmax_ref(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax(dtype):
    rng = np.random.default_rng(13)
    for shape in [(1,), (7,), (3, 5), (33, 65), (4, 3, 129), (2, 1000), (257, 300), (0, 4), (5, 1)]:
        x = rnd(rng, shape, dtype, 20.0)
        y = native.softmax(x)
        assert y.shape == x.shape and y.dtype == dtype
        if x.size:
            np.testing.assert_allclose(y, softmax_ref(x), **RED[dtype])
    big = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0, 1e30]], dtype=dtype)
    np.testing.assert_allclose(native.softmax(big), softmax_ref(big), **RED[dtype])
    x = np.array([[1.0, np.nan, 2.0], [1.0, np.inf, 2.0], [0.0, 1.0, 2.0]], dtype=dtype)
    y = native.softmax(x)
    with np.errstate(invalid="ignore"):
        r = softmax_ref(x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(r))
    np.testing.assert_allclose(y[2], r[2], **RED[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm(dtype):
    rng = np.random.default_rng(14)
    for shape in [(1,), (7,), (3, 5), (33, 65), (4, 3, 129), (300, 1024), (0, 8)]:
        x = rnd(rng, shape, dtype, 3.0) + dtype(1.5)
        n = shape[-1]
        w, b = rnd(rng, (n,), dtype), rnd(rng, (n,), dtype)
        xd = x.astype(np.float64)
        base = (xd - xd.mean(-1, keepdims=True)) / np.sqrt(xd.var(-1, keepdims=True) + 1e-5)
        for ww, bb in [(None, None), (w, None), (None, b), (w, b)]:
            y = native.layer_norm(x, ww, bb, 1e-5)
            assert y.shape == x.shape and y.dtype == dtype
            ref = base * (1 if ww is None else ww) + (0 if bb is None else bb)
            np.testing.assert_allclose(y, ref, **RED[dtype])
    c = np.full((2, 16), 3.0, dtype)  # zero variance: (x - mean) / sqrt(eps) = 0
    np.testing.assert_array_equal(native.layer_norm(c, None, None, 1e-5), np.zeros_like(c))


# ----------------------------------------------------------------------------- threads / info

def test_threads_api():
    assert native.get_num_threads() >= 1
    native.set_num_threads(1)
    assert native.get_num_threads() == 1 and native.info()["threads"] == 1
    native.set_num_threads(2)
    assert native.get_num_threads() == 2
    for bad in (0, -1):
        with pytest.raises(ValueError):
            native.set_num_threads(bad)
    assert native.get_num_threads() == 2


def test_fma_peak():
    g = native.fma_peak(0.01, 1)
    assert isinstance(g, float) and g > 0
    assert native.fma_peak(0.01, 2) > 0
    with pytest.raises(ValueError):
        native.fma_peak(0.0, 1)
    with pytest.raises(ValueError):
        native.fma_peak(0.01, 0)


def test_info():
    info = native.info()
    assert info["isa"] in ("avx512", "avx2", "portable")
    assert info["threading"] == "thread-pool"
    for key in ("threads", "compiler", "build_type"):
        assert key in info


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_threads_agree(dtype):
    rng = np.random.default_rng(15)
    x = rnd(rng, (300, 1001), dtype, 4.0)
    b = rnd(rng, (1001,), dtype)
    out = []
    for n in (1, 2):
        native.set_num_threads(n)
        out.append([native.gelu(x), native.relu(x), native.add_bias(x, b), native.softmax(x),
                    native.layer_norm(x, b, b, 1e-5), native.sum_rows(x), native.gelu_backward(x, x)])
    for u, v in zip(*out):
        np.testing.assert_allclose(u, v, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-6)


def test_gil_released_concurrent_calls():
    # two Python threads calling into the module at once (the pool is busy for one of them)
    import threading

    rng = np.random.default_rng(16)
    a, b = rnd(rng, (200, 300), np.float32), rnd(rng, (300, 250), np.float32)
    ref = native.gemm(a, b)
    errors = []

    def work():
        for _ in range(20):
            if not np.allclose(native.gemm(a, b), ref, rtol=1e-5, atol=1e-5):
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ----------------------------------------------------------------------------- ISA paths (subprocess)

ISA_SCRIPT = textwrap.dedent(
    """
    import math, sys
    import numpy as np
    from scipy.special import erf
    import halkit._native as n
    want = sys.argv[1]
    assert n.info()["isa"] == want, n.info()
    rng = np.random.default_rng(0)
    for dt, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        for (M, N, K) in [(1, 1, 1), (7, 45, 300), (61, 1025, 130), (241, 259, 257), (3, 40, 513)]:
            for ta in (0, 1):
                for tb in (0, 1):
                    a = rng.uniform(-1, 1, (K, M) if ta else (M, K)).astype(dt)
                    b = rng.uniform(-1, 1, (N, K) if tb else (K, N)).astype(dt)
                    bias = rng.uniform(-1, 1, N).astype(dt)
                    A = (a.T if ta else a).astype(np.float64); B = (b.T if tb else b).astype(np.float64)
                    ex = A @ B + bias
                    sc = np.abs(A) @ np.abs(B) + np.abs(bias)
                    c = n.gemm(a, b, bool(ta), bool(tb), bias, 1)
                    assert (np.abs(c - np.maximum(ex, 0)) <= 1.2 * tol * sc).all(), (dt, M, N, K, ta, tb)
        x = rng.uniform(-6, 6, (37, 129)).astype(dt)
        ew = dict(rtol=2e-6, atol=1e-6) if dt == np.float32 else dict(rtol=1e-12, atol=1e-13)
        g = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / math.sqrt(2)))
        np.testing.assert_allclose(n.gelu(x), g, **ew)
        np.testing.assert_array_equal(n.relu(x), np.maximum(x, 0))
        np.testing.assert_array_equal(n.add(x, x), x + x)
        xd = x.astype(np.float64)
        e = np.exp(xd - xd.max(-1, keepdims=True))
        np.testing.assert_allclose(n.softmax(x), e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
        ln = (xd - xd.mean(-1, keepdims=True)) / np.sqrt(xd.var(-1, keepdims=True) + 1e-5)
        np.testing.assert_allclose(n.layer_norm(x, None, None, 1e-5), ln, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(n.sum_rows(x), xd.sum(0), rtol=1e-5, atol=1e-5)
    print("ok", n.info()["isa"])
    """
)


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_isa_paths(isa):
    info = native.info()
    if isa == "avx2" and not info.get("cpu_avx2", False):
        pytest.skip("CPU lacks AVX2/FMA")
    if isa == "avx512" and not info.get("cpu_avx512", False):
        pytest.skip("CPU lacks AVX-512")
    env = dict(os.environ, HALKIT_NATIVE_ISA=isa, HALKIT_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", ISA_SCRIPT, isa], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ok {isa}" in proc.stdout


FORK_SCRIPT = textwrap.dedent(
    """
    import os, numpy as np
    import halkit._native as n
    n.set_num_threads(2)
    a = np.random.default_rng(0).standard_normal((300, 300)).astype(np.float32)
    ref = n.gemm(a, a)                      # the parent's pool is up and warm
    pid = os.fork()
    if pid == 0:                            # child: its pool must be rebuilt, not inherited
        ok = np.allclose(n.gemm(a, a), ref, rtol=1e-5, atol=1e-4) and np.array_equal(n.relu(a), np.maximum(a, 0))
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert np.allclose(n.gemm(a, a), ref, rtol=1e-5, atol=1e-4)
    print("ok")
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_after_pool_started():
    out = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr


def test_env_num_threads():
    env = dict(os.environ, HALKIT_NUM_THREADS="3")
    code = "import halkit._native as n; print(n.get_num_threads(), n.info()['threads'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "3"]


def test_bad_isa_env_falls_back_with_warning():
    env = dict(os.environ, HALKIT_NATIVE_ISA="sse9")
    code = "import halkit._native as n; print(n.info()['isa'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("avx512", "avx2", "portable")
    assert "HALKIT_NATIVE_ISA" in out.stderr


# ----------------------------------------------------------------------------- bad input

f32 = lambda *s: np.ones(s, np.float32)  # noqa: E731
f64 = lambda *s: np.ones(s, np.float64)  # noqa: E731


@pytest.mark.parametrize(
    "call,exc",
    [
        (lambda: native.gemm(f32(2, 3).astype(np.int32), f32(3, 2).astype(np.int32)), TypeError),
        (lambda: native.gemm(f32(2, 3).astype(np.float16), f32(3, 2).astype(np.float16)), TypeError),
        (lambda: native.gemm(f32(2, 3), f64(3, 2)), TypeError),
        (lambda: native.gemm([[1.0]], [[1.0]]), TypeError),
        (lambda: native.gemm(f32(3, 4)[:, ::2], f32(2, 2)), ValueError),
        (lambda: native.gemm(f32(4, 3).T, f32(4, 2)), ValueError),
        (lambda: native.gemm(f32(2, 3, 1), f32(3, 2)), ValueError),
        (lambda: native.gemm(f32(3), f32(3, 2)), ValueError),
        (lambda: native.gemm(f32(2, 3), f32(4, 2)), ValueError),
        (lambda: native.gemm(f32(2, 3), f32(2, 4), trans_b=True), ValueError),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), trans_a=True), ValueError),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), bias=f32(3)), ValueError),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), bias=f32(1, 2)), ValueError),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), bias=f64(2)), TypeError),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), bias=[1.0, 2.0]), TypeError),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), activation=3), ValueError),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), activation=-1), ValueError),
        (lambda: native.gemm(f32(2, 3).astype(">f4"), f32(3, 2).astype(">f4")), TypeError),
        (lambda: native.relu(f32(3).astype(np.int64)), TypeError),
        (lambda: native.relu(f32(4, 4)[:, ::2]), ValueError),
        (lambda: native.gelu([1.0, 2.0]), TypeError),
        (lambda: native.add(f32(3), f32(4)), ValueError),
        (lambda: native.add(f32(3), f64(3)), TypeError),
        (lambda: native.mul(f32(2, 3), f32(3, 2)), ValueError),
        (lambda: native.relu_backward(f32(3), f32(1, 3)), ValueError),
        (lambda: native.gelu_backward(f32(3), f64(3)), TypeError),
        (lambda: native.add_bias(f32(2, 3), f32(2)), ValueError),
        (lambda: native.add_bias(f32(2, 3), f32(1, 3)), ValueError),
        (lambda: native.add_bias(f32(2, 3), f64(3)), TypeError),
        (lambda: native.add_bias(np.ones((), np.float32), f32(1)), ValueError),
        (lambda: native.sum_rows(np.ones((), np.float32)), ValueError),
        (lambda: native.softmax(f32(3, 4)[:, ::2]), ValueError),
        (lambda: native.layer_norm(f32(2, 3), f32(2), None, 1e-5), ValueError),
        (lambda: native.layer_norm(f32(2, 3), None, f64(3), 1e-5), TypeError),
        (lambda: native.layer_norm(f32(2, 3), None, None, -1.0), ValueError),
        (lambda: native.set_num_threads(0), ValueError),
    ],
)
def test_bad_input_raises(call, exc):
    with pytest.raises(exc):
        call()


def test_unaligned_input_rejected():
    buf = np.zeros(4 * 7 + 1, dtype=np.uint8)
    x = np.frombuffer(buf.data, dtype=np.float32, count=7, offset=1)
    assert not x.flags.aligned
    with pytest.raises(ValueError):
        native.relu(x)
