"""The bad-input catalogue: each mistake raises a clear error naming the argument, on every backend."""
import numpy as np
import pytest

import halkit.hal as hal

f32 = np.ones((3, 4), np.float32)
w43 = np.ones((4, 3), np.float32)

CASES = [
    # (call, exception, words the message must contain)
    (lambda: hal.matmul([[1.0]], f32), TypeError, ["a must be a numpy.ndarray", "np.asarray"]),
    (lambda: hal.matmul(f32.astype(np.int64), w43), TypeError, ["a has dtype int64", "float32"]),
    (lambda: hal.matmul(f32.astype(np.float16), w43), TypeError, ["a has dtype float16"]),
    (lambda: hal.matmul(f32, w43.astype(np.float64)), TypeError, ["b has dtype float64", "a has dtype float32"]),
    (lambda: hal.matmul(np.ones(3, np.float32), w43), ValueError, ["a must be 2-D", "1-D"]),
    (lambda: hal.matmul(f32, f32), ValueError, ["inner dimensions", "3×4", "3×4"]),
    (lambda: hal.matmul(f32, w43, trans_b=True), ValueError, ["inner dimensions"]),
    (lambda: hal.matmul(np.ones((6, 8), np.float32)[::2, ::2], w43), ValueError, ["a is not contiguous", "ascontiguousarray"]),
    (lambda: hal.linear(f32, np.ones((5, 3), np.float32)), ValueError, ["x has 4 features", "(out_features, in_features)"]),
    (lambda: hal.linear(f32, w43.T, np.ones(4, np.float32)), ValueError, ["b must have shape (3,)"]),
    (lambda: hal.linear(f32, w43.T, np.ones(3, np.float64)), TypeError, ["b has dtype float64"]),
    (lambda: hal.linear(f32, w43.T, None, "tanh"), ValueError, ["activation must be None, 'relu' or 'gelu'"]),
    (lambda: hal.linear(np.ones((), np.float32), w43.T), ValueError, ["at least 1 dimension"]),
    (lambda: hal.linear(np.ones((8, 4), np.float32)[::2], w43.T), ValueError, ["x is not C-contiguous"]),
    (lambda: hal.relu(np.ones(3, np.int32)), TypeError, ["x has dtype int32"]),
    (lambda: hal.relu(f32.T), ValueError, ["x is not C-contiguous"]),
    (lambda: hal.add_bias(f32, np.ones(3, np.float32)), ValueError, ["b must have shape (4,)"]),
    (lambda: hal.add(f32, w43), ValueError, ["b has shape (4, 3) but a has shape (3, 4)"]),
    (lambda: hal.mul(f32, f32.astype(np.float64)), TypeError, ["b has dtype float64"]),
    (lambda: hal.softmax(f32, axis=2), ValueError, ["axis must be an int in [-2, 2)"]),
    (lambda: hal.layer_norm(np.ones((3, 0), np.float32)), ValueError, ["non-empty last axis"]),
    (lambda: hal.layer_norm(f32, eps=-1.0), ValueError, ["eps must be a finite number"]),
    (lambda: hal.layer_norm(f32, eps=float("nan")), ValueError, ["eps must be a finite number"]),
    (lambda: hal.layer_norm(f32, np.ones(3, np.float32)), ValueError, ["weight must have shape (4,)"]),
    (lambda: hal.conv2d(f32, f32), ValueError, ["x must be 4-D"]),
    (lambda: hal.conv2d(np.ones((1, 2, 5, 5), np.float32), np.ones((1, 3, 3, 3), np.float32)), ValueError, ["x has 2 channels"]),
    (lambda: hal.conv2d(np.ones((1, 2, 5, 5), np.float32), np.ones((4, 2, 3, 3), np.float32), groups=2), ValueError, ["groups=2", "expects 4"]),
    (lambda: hal.conv2d(np.ones((1, 2, 5, 5), np.float32), np.ones((4, 2, 3, 3), np.float32), stride=0), ValueError, ["stride must be an int from 1"]),
    (lambda: hal.conv2d(np.ones((1, 2, 2, 2), np.float32), np.ones((4, 2, 3, 3), np.float32)), ValueError, ["smaller than the dilated kernel"]),
    # issue 14 item 16: huge geometry values are refused up front, not by NumPy internals
    (lambda: hal.conv2d(np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 3, 3), np.float32), padding=2**62), ValueError,
     ["padding must be an int from 0 to 2147483647"]),
    (lambda: hal.conv2d(np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 3, 3), np.float32), padding="full"), ValueError,
     ["padding must be an int, a pair of ints, 'valid' or 'same'"]),
    # issue 14 item 4: ndarray subclasses would mean different things on different drivers
    (lambda: hal.mul(np.asmatrix(f32), np.asmatrix(f32)), TypeError, ["a is a matrix", "np.asarray(a)"]),
    (lambda: hal.relu(np.ma.masked_array(f32, mask=f32 > 0)), TypeError, ["x is a MaskedArray", ".filled(value)"]),
    (lambda: hal.sum(f32, axes=(0, 0)), ValueError, ["axes repeat an axis"]),
    (lambda: hal.sum(f32, axes=5), ValueError, ["axes must lie in [-2, 2)"]),
    (lambda: hal.embedding(f32, np.array([0, 1], np.int32)), TypeError, ["indices has dtype int32", "int64"]),
]


def test_zero_dimensional_inputs_give_zero_dimensional_arrays(on_backend):
    # issue 14 item 7: NumPy returns scalars for 0-D results; every op returns an ndarray, as its contract says.
    x = np.array(1.5, np.float32)
    for result in (hal.relu(x), hal.gelu(x), hal.add(x, x), hal.mul(x, x), hal.relu_backward(x, x),
                   hal.gelu_backward(x, x), hal.sum(np.ones(3, np.float32)), hal.mean(x)):
        assert type(result) is np.ndarray and result.shape == () and result.dtype == np.float32


@pytest.mark.parametrize("index", range(len(CASES)))
def test_bad_input_raises_a_clear_error(on_backend, index):
    call, exception, words = CASES[index]
    with pytest.raises(exception) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_empty_dimensions_follow_numpy(on_backend):
    assert hal.matmul(np.ones((0, 3), np.float32), np.ones((3, 4), np.float32)).shape == (0, 4)
    np.testing.assert_array_equal(hal.matmul(np.ones((2, 0), np.float32), np.ones((0, 3), np.float32)), np.zeros((2, 3)))
    y = hal.linear(np.ones((2, 0), np.float32), np.ones((3, 0), np.float32), np.array([1, -1, 2], np.float32), "relu")
    np.testing.assert_array_equal(y, [[1, 0, 2], [1, 0, 2]])


def test_a_refused_gemm_raises_the_op_apis_error_on_every_driver(on_backend):
    """A driver that checks GEMM arguments itself (Driver.checks_gemm_arguments: native) is called first; a refusal
    is then explained by the op API's own checks: the same error on every driver, with no driver error attached."""
    a = np.ones((3, 4), np.float32)
    for call, words in ((lambda: hal.matmul(a, a), "op(a)'s columns must equal op(b)'s rows"),
                        (lambda: hal.linear(a, np.ones((2, 5), np.float32)), "x has 4 features"),
                        (lambda: hal.linear(a, a, np.ones(4, np.float32)), "b must have shape (3,)")):
        with pytest.raises(ValueError) as info:
            call()
        assert words in str(info.value) and info.value.__context__ is None
