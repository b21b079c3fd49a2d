"""Element-wise ops, reductions and normalisations on every backend against torch (float64 as the judge)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import halkit.hal as hal

from .tolerance import ELEMENTWISE, REDUCTION, random

DTYPES = [np.float32, np.float64]
# Sizes around SIMD widths and the native threading threshold, plus empty and 0-D.
SHAPES = [(), (0,), (1,), (7,), (17,), (3, 5), (2, 0, 4), (33, 65), (4, 3, 129), (1001, 1003)]


def t(x):
    return torch.from_numpy(x).double()


UNARY = {
    "relu": (hal.relu, torch.relu),
    "gelu": (hal.gelu, F.gelu),
}
BINARY = {
    "add": (hal.add, torch.add),
    "mul": (hal.mul, torch.mul),
    "relu_backward": (hal.relu_backward, lambda g, x: torch.ops.aten.threshold_backward(g, x, 0)),
    "gelu_backward": (hal.gelu_backward, lambda g, x: torch.ops.aten.gelu_backward(g, x)),
}


@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary(on_backend, op, dtype, rng):
    ours, theirs = UNARY[op]
    for shape in SHAPES:
        x = random(rng, shape, dtype, scale=4)
        y = ours(x)
        assert y.shape == x.shape and y.dtype == dtype and not np.shares_memory(x, y)
        np.testing.assert_allclose(y, theirs(t(x)).numpy(), **ELEMENTWISE[dtype])


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary(on_backend, op, dtype, rng):
    ours, theirs = BINARY[op]
    for shape in SHAPES:
        a, b = random(rng, shape, dtype), random(rng, shape, dtype, scale=4)
        np.testing.assert_allclose(ours(a, b), theirs(t(a), t(b)).numpy(), **ELEMENTWISE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_bias_and_sum_rows(on_backend, dtype, rng):
    for shape in [(1,), (1, 1), (5, 7), (3, 4, 33), (1000, 257), (0, 6)]:
        x, b = random(rng, shape, dtype), random(rng, shape[-1:], dtype)
        np.testing.assert_allclose(hal.add_bias(x, b), (t(x) + t(b)).numpy(), **ELEMENTWISE[dtype])
        expected = t(x).reshape(-1, shape[-1]).sum(0).numpy()
        np.testing.assert_allclose(hal.sum_rows(x), expected, **REDUCTION[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_any_axis(on_backend, dtype, rng):
    for shape in [(1,), (5,), (3, 7), (2, 3, 129), (4, 0), (64, 1000)]:
        x = random(rng, shape, dtype, scale=10)
        for axis in range(-len(shape), len(shape)):
            np.testing.assert_allclose(hal.softmax(x, axis), torch.softmax(t(x), axis).numpy(), **REDUCTION[dtype])


def test_softmax_is_stable_for_large_inputs(on_backend):
    x = np.array([[1000.0, 1000.0], [-1000.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(hal.softmax(x), [[0.5, 0.5], [0.0, 1.0]], atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(on_backend, dtype, affine, rng):
    for shape in [(1,), (1, 1), (4, 7), (2, 3, 64), (512, 768), (0, 5)]:
        x = random(rng, shape, dtype, scale=3) + dtype(1)
        w, b = (random(rng, shape[-1:], dtype), random(rng, shape[-1:], dtype)) if affine else (None, None)
        y = hal.layer_norm(x, w, b, eps=1e-5)
        expected = F.layer_norm(t(x), shape[-1:], None if w is None else t(w), None if b is None else t(b), 1e-5)
        np.testing.assert_allclose(y, expected.numpy(), **REDUCTION[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # numpy warns; we match it
def test_nan_propagates_through_elementwise_ops(on_backend, dtype):
    x = np.array([np.nan, -1.0, 2.0, np.inf, -np.inf], dtype=dtype)
    np.testing.assert_array_equal(hal.relu(x), torch.relu(t(x)).numpy().astype(dtype))
    assert np.isnan(hal.gelu(x)[0]) and np.isnan(hal.add(x, x)[0])
