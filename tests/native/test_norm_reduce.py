"""halkit._native batch norm (given stats, stats, backward) and sum / mean over axes against the numpy reference."""
import numpy as np
import pytest
from conftest import DTYPES, EW, RED, close, close_sum, native, rnd

BN_SHAPES = [(1, 1), (2, 3), (4, 3, 5), (2, 5, 7, 9), (8, 64, 16, 16), (1, 7, 1, 1), (0, 3, 4), (3, 2, 0), (16, 3, 33, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm(dtype, ref, isa, threads):
    rng = np.random.default_rng(1)
    for shape in BN_SHAPES:
        c = shape[1]
        x = rnd(rng, shape, dtype, 3.0) + dtype(2.0)
        mean, var = rnd(rng, (c,), dtype), np.abs(rnd(rng, (c,), dtype)) + dtype(0.1)
        w, b = rnd(rng, (c,), dtype), rnd(rng, (c,), dtype)
        for ww, bb in [(None, None), (w, None), (None, b), (w, b)]:
            close(native.batch_norm(x, mean, var, ww, bb, 1e-5), ref.batch_norm(x, mean, var, ww, bb, 1e-5),
                  {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: RED[np.float64]}[dtype])
        if x.size:
            got = native.batch_norm_stats(x)
            x64 = x.astype(np.float64)
            axes = (0, *range(2, x.ndim))
            close_sum(got[0], x64.mean(axis=axes), np.abs(x64).mean(axis=axes), dtype)
            close(got, ref.batch_norm_stats(x), RED[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_backward(dtype, ref, isa, threads):
    rng = np.random.default_rng(2)
    for shape in BN_SHAPES:
        if not np.prod(shape):
            continue
        c = shape[1]
        x = rnd(rng, shape, dtype, 2.0)
        mean, var = ref.batch_norm_stats(x)
        g, w = rnd(rng, shape, dtype), rnd(rng, (c,), dtype)
        for ww in (None, w):
            got = native.batch_norm_backward(g, x, mean, var, ww, 1e-5)
            # compared with the reference in float64 (the float32 reference cancels as much as any float32 kernel)
            exact = ref.batch_norm_backward(*(a.astype(np.float64) for a in (g, x, mean, var)),
                                            None if ww is None else ww.astype(np.float64), 1e-5)
            for a, e in zip(got, exact):
                assert a.dtype == dtype and a.shape == e.shape
                np.testing.assert_allclose(a, e, rtol=2e-4 if dtype == np.float32 else 1e-10,
                                           atol=2e-4 if dtype == np.float32 else 1e-10)


REDUCE_CASES = [((), None), ((), 0), ((5,), None), ((5,), 0), ((3, 4), 1), ((3, 4), -2), ((2, 3, 4), (0, 2)),
                ((2, 3, 4, 5), (2, 3)), ((2, 3, 4, 5), (0, 2, 3)), ((2, 3, 4, 5), (1, 3)), ((7, 1, 9), (0, 1)),
                ((0, 4), 0), ((0, 4), 1), ((3, 0), None), ((300, 257), 0), ((64, 300, 301), (1, 2)),
                ((1000, 3, 70), (0, 2)), ((2, 3), ()), ((4, 5), (-1, 0))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_mean_over_axes(dtype, keepdims, ref, threads):
    rng = np.random.default_rng(3)
    for shape, axes in REDUCE_CASES:
        x = rnd(rng, shape, dtype, 2.0)
        for name in ("sum", "mean"):
            with np.errstate(invalid="ignore"):
                expected = getattr(ref, name)(x, axes, keepdims)
                got = getattr(native, name)(x, axes, keepdims)
            assert got.shape == expected.shape and got.dtype == dtype and type(got) is np.ndarray
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            exact = getattr(ref, name)(x.astype(np.float64), axes, keepdims)
            scale = getattr(ref, name)(np.abs(x.astype(np.float64)), axes, keepdims)
            fin = ~np.isnan(exact)
            assert (np.abs(got[fin] - exact[fin]) <= 1e-5 * scale[fin] + 1e-30).all() if dtype == np.float32 else \
                (np.abs(got[fin] - exact[fin]) <= 1e-13 * scale[fin] + 1e-300).all(), (shape, axes, name)


@pytest.mark.parametrize("axes", [(0, 0), 2, (-3,), 1.5, "0", True])
def test_reduce_bad_axes(axes):
    with pytest.raises(ValueError, match="axes"):
        native.sum(np.ones((2, 3), np.float32), axes)


@pytest.mark.parametrize("call,match", [
    (lambda: native.batch_norm(np.ones(3, np.float32), np.ones(3, np.float32), np.ones(3, np.float32)), r"\(N, C"),
    (lambda: native.batch_norm(np.ones((2, 3), np.float32), np.ones(2, np.float32), np.ones(3, np.float32)), "mean"),
    (lambda: native.batch_norm(np.ones((2, 3), np.float32), np.ones(3, np.float32), np.ones(3, np.float64)), "var"),
    (lambda: native.batch_norm(np.ones((2, 3), np.float32), np.ones(3, np.float32), np.ones(3, np.float32), eps=-1),
     "eps"),
    (lambda: native.batch_norm_backward(np.ones((2, 3), np.float32), np.ones((3, 3), np.float32),
                                        np.ones(3, np.float32), np.ones(3, np.float32)), "same shape"),
])
def test_batch_norm_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
