"""halkit._native embedding (+ backward), cat and copy_strided against the numpy reference."""
import numpy as np
import pytest
from conftest import DTYPES, close, native, rnd

EXACT = dict(rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_and_backward(dtype, ref, threads):
    rng = np.random.default_rng(1)
    for v, d, idx_shape in [(1, 1, ()), (10, 4, (3,)), (50, 33, (4, 7)), (1000, 128, (8, 128)), (5, 3, (0,)),
                            (30000, 64, (64, 512))]:
        w = rnd(rng, (v, d), dtype)
        idx = rng.integers(0, v, idx_shape).astype(np.int64)
        close(native.embedding(w, idx), ref.embedding(w, idx), EXACT)
        g = rnd(rng, idx_shape + (d,), dtype)
        for pad in (-1, 0, v - 1):  # no padding row, the first, the last
            got = native.embedding_backward(g, idx, v, pad)
            close(got, ref.embedding_backward(g, idx, v, pad), dict(rtol=1e-5, atol=1e-5))
            if pad >= 0:
                assert not got[pad].any(), "the padding row gets no gradient"


@pytest.mark.parametrize("call,exc,match", [
    (lambda: native.embedding(np.ones((4, 2), np.float32), np.array([0, 4])), IndexError, r"\[0, 4\)"),
    (lambda: native.embedding(np.ones((4, 2), np.float32), np.array([-1])), IndexError, "indices"),
    (lambda: native.embedding(np.ones((4, 2), np.float32), np.array([1], np.int32)), TypeError, "int64"),
    (lambda: native.embedding(np.ones(4, np.float32), np.array([1])), ValueError, "2-D"),
    (lambda: native.embedding_backward(np.ones((2, 3), np.float32), np.array([0, 5]), 5), IndexError, "indices"),
    (lambda: native.embedding_backward(np.ones((2, 3), np.float32), np.array([0]), 5), ValueError, "shape"),
    (lambda: native.embedding_backward(np.ones((1, 3), np.float32), np.array([0]), -1), ValueError, "num_weights"),
    (lambda: native.embedding_backward(np.ones((1, 3), np.float32), np.array([0]), 5, 5), ValueError, "padding_idx"),
    (lambda: native.embedding_backward(np.ones((1, 3), np.float32), np.array([0]), 5, -2), ValueError, "padding_idx"),
])
def test_embedding_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("dtype", DTYPES)
def test_cat(dtype, ref, threads):
    rng = np.random.default_rng(2)
    for shapes, axis in [([(3,)], 0), ([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 0)], 1), ([(2, 3, 4)] * 3, -1),
                         ([(5, 1, 7), (5, 2, 7)], 1), ([(0, 4), (0, 4)], 0), ([(64, 1024, 128), (64, 1024, 64)], 2)]:
        xs = [rnd(rng, s, dtype) for s in shapes]
        close(native.cat(xs, axis), ref.cat(xs, axis), EXACT)


@pytest.mark.parametrize("call,exc", [
    (lambda: native.cat([], 0), ValueError),
    (lambda: native.cat([np.ones(2, np.float32), np.ones(2, np.float64)], 0), ValueError),
    (lambda: native.cat([np.ones((2, 3), np.float32), np.ones((3, 2), np.float32)], 0), ValueError),
    (lambda: native.cat([np.ones(2, np.float32)], 1), ValueError),
    (lambda: native.cat([np.ones((), np.float32)], 0), ValueError),
    (lambda: native.cat(np.ones(2, np.float32), 0), TypeError),
])
def test_cat_bad_input(call, exc):
    with pytest.raises(exc):
        call()


@pytest.mark.parametrize("dtype", DTYPES)
def test_copy_strided(dtype, ref, threads):
    rng = np.random.default_rng(3)
    x = rnd(rng, (6, 7, 8), dtype)
    for shape, strides, offset in [((), (), 5), ((3,), (2,), 1), ((4, 5), (1, 6), 2), ((8, 7, 6), (1, 8, 56), 0),
                                   ((2, 3, 4), (0, 1, 3), 10), ((0, 5), (3, 1), 0), ((336,), (1,), 0),
                                   ((7, 8), (48, 1), 0), ((2, 2, 2, 2), (100, 50, 10, 1), 3)]:
        close(native.copy_strided(x, shape, strides, offset), ref.copy_strided(x, shape, strides, offset), EXACT)
    big = rnd(rng, (512, 1024), dtype)
    close(native.copy_strided(big, (1024, 512), (1, 1024), 0), ref.copy_strided(big, (1024, 512), (1, 1024), 0), EXACT)


@pytest.mark.parametrize("args", [((4,), (1,), 13), ((2, 2), (1,), 0), ((3,), (-1,), 2), ((3,), (1,), -1),
                                  ((-1,), (1,), 0), ((4, 4), (4, 1), 1)])
def test_copy_strided_bad_input(args):
    with pytest.raises(ValueError):
        native.copy_strided(np.ones(16, np.float32), *args)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_driver_moves_every_dtype(dtype, ref):
    """The C++ layout kernels move floats; the native driver hands other dtypes (a torch device's int64
    indices, bool masks) to the reference rather than refusing them."""
    from halkit.hal.builtin.native import NativeDriver

    driver = NativeDriver()
    x = (np.arange(6 * 7) % 5).astype(dtype).reshape(6, 7)
    np.testing.assert_array_equal(driver.copy_strided(x, (7, 6), (1, 7), 0), ref.copy_strided(x, (7, 6), (1, 7), 0))
    np.testing.assert_array_equal(driver.cat([x, x[:2]], 0), ref.cat([x, x[:2]], 0))
