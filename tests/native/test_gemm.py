"""halkit._native GEMM and bmm against float64 NumPy and the numpy reference driver.

GEMM error metric: |C - C_exact| <= tol * (|op(A)| @ |op(B)| + |bias|) componentwise, with C_exact computed in
float64 (tol 1e-5 for float32 up to K = 4096, 1e-12 for float64). Shapes straddle every path's boundaries:
GEMV (<= 4 rows of (K,N) B), dot products (op(B) = W^T, few rows against a deep K), direct (both operands in
cache, K <= 256), skinny (B read in place, <= 72 rows), packed (KC/MC/NC blocks, row ranges per thread), tile and
vector edges.
"""
import math

import numpy as np
import pytest
from conftest import DTYPES, EW, native, rnd
from scipy.special import erf

GEMM_TOL = {np.float32: 1e-5, np.float64: 1e-12}


def gelu_ref(x):
    x = x.astype(np.float64)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def act_ref(y, activation):
    if activation == 1:
        return np.maximum(y, 0)
    if activation == 2:
        return gelu_ref(y)
    return y


def check_gemm(a, b, ta, tb, bias=None, activation=0):
    dtype = a.dtype.type
    c = native.gemm(a, b, ta, tb, bias, activation)
    A = (a.T if ta else a).astype(np.float64)
    B = (b.T if tb else b).astype(np.float64)
    exact = A @ B
    scale = np.abs(A) @ np.abs(B)
    if bias is not None:
        exact = exact + bias
        scale = scale + np.abs(bias.astype(np.float64))
    assert c.shape == exact.shape and c.dtype == a.dtype and c.flags.c_contiguous and c.flags.owndata
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


SMALL_SHAPES = [(1, 1, 1), (1, 1, 7), (1, 17, 1), (13, 1, 5), (2, 3, 4), (7, 11, 13), (31, 37, 41), (1, 64, 64),
                (12, 32, 256), (13, 33, 257), (11, 31, 255), (24, 64, 512), (25, 65, 513), (48, 100, 3),
                (49, 129, 70), (97, 33, 19), (64, 10, 128), (64, 128, 64)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_gemm_small_and_edge_shapes(dtype, ta, tb, isa):
    rng = np.random.default_rng(1)
    for M, N, K in SMALL_SHAPES:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        check_gemm(a, b, ta, tb)


BLOCK_SHAPES = [
    (145, 259, 513),   # two K blocks, N edge
    (143, 255, 511),
    (97, 96, 385),     # f64 KC=256: two K blocks
    (95, 33, 1025),    # three K blocks (f32)
    (121, 31, 300),    # past the direct path's K (256)
    (4, 77, 1000),     # first row count past the GEMV paths
    (3, 77, 1000),     # last row count of the GEMV paths, N tail < vector width
    (12, 100, 600),    # skinny: one row panel, B read in place
    (13, 100, 600),    # skinny: two row panels, the first copies B out
    (72, 100, 600),    # last row count of the skinny path
    (73, 100, 600),    # first packed-path row count
    (61, 1025, 130),   # skinny with an N edge
    (1, 1000, 1030),   # batch-1
    (8, 300, 2049),
    (200, 4100, 20),   # many column blocks
    (3, 2050, 33),
    (2100, 40, 30),    # more rows than one packed A block (M3 = 2048 f32)
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_block_boundaries(dtype, ta, tb):
    rng = np.random.default_rng(2)
    for M, N, K in BLOCK_SHAPES:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        check_gemm(a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_power_of_two_leading_dims(dtype, threads):
    # ldb = 1024 floats (4 KiB): the skinny path's B copy must make the reuse alias-free, and stay correct
    rng = np.random.default_rng(17)
    for M, N, K in [(32, 1024, 1024), (8, 1024, 512), (64, 512, 512), (128, 256, 256)]:
        a, b = operands(rng, M, N, K, False, False, dtype)
        check_gemm(a, b, False, False, rnd(rng, (N,), dtype), 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [0, 1, 2])
def test_gemm_direct_trans_b_boundaries(dtype, activation, threads):
    # op(B) = W^T, small: A read in place, each B panel transposed once (direct_tb); the path ends at K = 256
    # and at (M*K + K*N) * itemsize = 256 KiB; N edges narrower than one and than two vectors; bias fused
    rng = np.random.default_rng(18)
    for M, N, K in [(64, 10, 128), (64, 128, 64), (100, 156, 256), (101, 156, 256), (4, 40, 256), (150, 33, 257),
                    (77, 17, 200), (13, 31, 5), (256, 200, 128), (300, 300, 100)]:
        a, b = operands(rng, M, N, K, False, True, dtype)
        a *= 3
        check_gemm(a, b, False, True, rnd(rng, (N,), dtype), activation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [0, 1, 2])
def test_gemm_four_row_stream_boundaries(dtype, activation, threads):
    # 4 rows and (K,N) B: B streamed row after row (gemv_stream, its N edge narrower than a vector through the
    # narrow kernel); 5 rows stay on the skinny path; odd K (a tail under the 4 B rows per pass)
    rng = np.random.default_rng(19)
    for M, N, K in [(4, 1024, 600), (4, 1024, 513), (4, 1024, 511), (4, 2048, 300), (4, 512, 1100),
                    (5, 1024, 600), (4, 1000, 600), (4, 1024, 500), (3, 1024, 700), (2, 1024, 1030), (4, 37, 9),
                    (4, 1, 5000), (4, 15, 100)]:
        a, b = operands(rng, M, N, K, False, False, dtype)
        a *= 3
        check_gemm(a, b, False, False, rnd(rng, (N,), dtype), activation)
        check_gemm(a, b, False, False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_packed_row_ranges(dtype, ta, tb, threads):
    # packed path with threads: each thread one MR-aligned range of rows (73: first row count past the
    # skinny path, ranges of 36 + 37 rows), its own A and B packing; K blocks, N edges, bias + gelu
    rng = np.random.default_rng(20)
    for M, N, K in [(73, 300, 600), (97, 1000, 129), (600, 40, 700), (145, 33, 1030), (200, 259, 512)]:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        check_gemm(a, b, ta, tb, rnd(rng, (N,), dtype), 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [0, 1, 2])
def test_gemm_skinny_trans_b_boundaries(dtype, activation, threads):
    # op(B) = W^T with up to 72 rows past the direct and dot-product paths: W transposed one KCS x NR micro-panel
    # at a time (skinny); 12 / 13 (one / two row panels), 72 / 73 (last skinny / first packed), K over one KCS
    # block (256 f32, 128 f64) with a tail, N edges narrower than one and two vectors.  On AVX-512 float32,
    # 64 x 512 x 512 and 61 rows go to the C^T path instead (test_gemm_transposed_output_boundaries)
    rng = np.random.default_rng(21)
    for M, N, K in [(4, 77, 1000), (12, 100, 600), (13, 100, 600), (72, 100, 600), (73, 100, 600),
                    (64, 512, 512), (8, 1024, 300), (61, 1025, 130), (30, 10, 257), (5, 33, 2049)]:
        a, b = operands(rng, M, N, K, False, True, dtype)
        a *= 3
        check_gemm(a, b, False, True, rnd(rng, (N,), dtype), activation)


def check_linear_layouts(rng, shapes, dtype, activation):
    """act(op(A) W^T + bias) for each (M, N, K), with op(A) = A and op(A) = a stored transposed."""
    for M, N, K in shapes:
        for ta in (False, True):
            a, b = operands(rng, M, N, K, ta, True, dtype)
            a *= 3
            check_gemm(a, b, ta, True, rnd(rng, (N,), dtype), activation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [0, 1, 2])
def test_gemm_transposed_output_boundaries(dtype, activation, threads, isa):
    # op(B) = W^T with 16..72 rows computed as C^T = W op(A)^T (transposed_chunk): taken when M x (K + N) < N x K
    # and M pads to whole vectors with at most a quarter vector (float32 AVX-512: M = 16q - 4 .. 16q), before
    # the dot products (32 x 1024 and 48 x 2048 were theirs); other ISAs, float64 and rows under 16 take some of
    # these shapes on the dot-product or skinny paths instead, checked all the same.
    # op(A)^T panels of two vectors with padding columns (29, 62 rows), one-vector panels (16 rows; 44 = 32 + 12),
    # K blocks (KCS: 256 f32, 128 f64) with a tail, C^T blocks of 512 (f32) / 256 (f64) rows at 64 rows crossed
    # (N = 513, 1030), W row panels of MR with an edge, op(A) = A^T gathered; 14 rows: the first count below
    rng = np.random.default_rng(25)
    check_linear_layouts(rng, [(16, 100, 300), (14, 77, 90), (29, 200, 700), (44, 130, 256), (62, 100, 1000),
                               (64, 513, 255), (64, 1030, 600), (32, 1024, 257), (32, 300, 1024), (48, 200, 2048)],
                         dtype, activation)
    a, b = operands(rng, 64, 200, 130, False, True, dtype)
    check_gemm(a, b, False, True)  # no bias


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [0, 1, 2])
def test_gemm_dot_product_boundaries(dtype, activation, threads, isa):
    # op(B) = W^T by dot products (<= 3 rows, or 20 * rows <= K from K = 256 on): A's rows 8 at a time (8 / 9 /
    # 17 rows: whole and partial blocks), K blocks of one 4 KiB row (1024 f32, 512 f64) summed across blocks with
    # bias and activation on the last only, K tails under one vector, W rows in 256 KiB blocks (N = 300 crosses
    # one for f64 at K = 1024), N edges under one pass of W rows, op(A) = A^T gathered; 51 / 52 rows at K = 1024
    # and 12 / 13 at K = 256 sit on either side of the switch to the skinny path
    rng = np.random.default_rng(24)
    check_linear_layouts(rng, [(1, 9, 256), (3, 7, 1000), (4, 77, 1000), (8, 33, 1024), (9, 35, 1025),
                               (17, 300, 1024), (5, 13, 2049), (2, 5, 4100), (51, 70, 1024), (52, 70, 1024),
                               (12, 40, 256), (13, 40, 256), (8, 1, 513), (6, 64, 300)], dtype, activation)
    a, b = operands(rng, 7, 40, 700, False, True, dtype)
    check_gemm(a, b, False, True)  # no bias


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
def test_gemm_bias_activation(dtype, activation, with_bias, isa):
    rng = np.random.default_rng(4)
    for (M, N, K), ta, tb in [((1, 1, 1), False, False), ((7, 45, 300), False, True), ((64, 96, 64), True, False),
                              ((130, 70, 520), False, True), ((3, 200, 600), False, False),
                              ((20, 70, 100), False, False), ((40, 300, 600), False, False)]:
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
def test_gemm_random_shapes(dtype, threads):
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
                            (64, 512, 512, False, True), (130, 130, 130, True, True), (40, 700, 300, False, False)]:
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
def test_gemm_nan_inf_propagate_like_numpy(dtype, isa):
    rng = np.random.default_rng(9)
    for M, N, K, ta, tb in [(5, 7, 3, False, False), (30, 70, 300, False, True), (13, 40, 600, True, False),
                            (100, 90, 80, False, False)]:
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


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_unaligned_operands_accepted(dtype):
    # NumPy computes with unaligned arrays, so the native driver must too (it copies them)
    rng = np.random.default_rng(10)
    item = np.dtype(dtype).itemsize
    def unaligned(x):
        buf = np.zeros(x.nbytes + 1, np.uint8)
        u = np.frombuffer(buf.data, dtype=dtype, count=x.size, offset=1).reshape(x.shape)
        u[...] = x
        assert not u.flags.aligned
        return u
    a, b, bias = rnd(rng, (9, 33), dtype), rnd(rng, (20, 33), dtype), rnd(rng, (20,), dtype)
    c = native.gemm(unaligned(a), unaligned(b), False, True, unaligned(bias), 1)
    np.testing.assert_array_equal(c, native.gemm(a, b, False, True, bias, 1))
    assert item in (4, 8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bmm_matches_reference(dtype, ref, threads):
    rng = np.random.default_rng(11)
    for B, M, N, K in [(1, 1, 1, 1), (3, 5, 7, 9), (8, 64, 64, 32), (2, 130, 70, 90), (0, 3, 4, 5), (4, 0, 3, 2),
                       (2, 3, 4, 0), (12, 128, 128, 64)]:
        for ta in (False, True):
            for tb in (False, True):
                a = rnd(rng, (B, K, M) if ta else (B, M, K), dtype)
                b = rnd(rng, (B, N, K) if tb else (B, K, N), dtype)
                c = native.bmm(a, b, ta, tb)
                expected = ref.bmm(a, b, ta, tb)
                assert c.shape == expected.shape and c.dtype == dtype
                np.testing.assert_allclose(c, expected, rtol=2e-5 if dtype == np.float32 else 1e-12,
                                           atol=2e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_shared_packing_is_race_free(dtype):
    # Two threads pack A's panels in parallel: a packing store spilling into the next thread's panel corrupted
    # rows 0-3 of a panel now and then (K blocks of 256 = a multiple of the vector width). Repeat to catch it.
    native.set_num_threads(2)
    rng = np.random.default_rng(18)
    a, b = operands(rng, 200, 259, 512, False, False, dtype)
    exact = check_gemm(a, b, False, False)
    for _ in range(40):
        np.testing.assert_array_equal(native.gemm(a, b), exact)
