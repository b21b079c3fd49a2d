"""The numpy reference against torch, op by op: every op of the op set, forward and backward, float32 and
float64, over every geometry the conformance suite knows (fast and thorough: 1×1, odd sizes, large K, empty
where defined, NaN/±inf, pooling with ceil_mode/padding/dilation/count_include_pad, grouped and depthwise
convolutions, training-mode batch_norm, embedding gradients with repeated indices), plus NaN cases torch
defines precisely. torch computes in float64; the reference's result must match it rounded to its dtype
within the conformance suite's per-op tolerance (so what the suite checks drivers against is itself right).
"""
import numpy as np
import pytest

import halkit.hal as hal
from halkit.cts import samples, tolerance
from halkit.hal import opset

from .torch_twins import NO_TWIN, judge

DTYPES = ["float32", "float64"]
OPS = sorted(set(opset.OPS) - NO_TWIN)


def reference(op, inputs, params):
    with np.errstate(all="ignore"):
        out = getattr(hal.reference(), op)(*inputs, **params)
    return out if isinstance(out, tuple) else (out,)


def assert_matches_torch(op, inputs, params, what=""):
    params = opset.bind_params(opset.OPS[op], params)
    ours = reference(op, inputs, params)
    assert all(type(o) is np.ndarray for o in ours), f"{op} returned {[type(o).__name__ for o in ours]}"
    problem = judge(op, ours, inputs, params)
    assert problem is None, f"{op} {what}: {problem}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_reference_matches_torch(op, dtype):
    rng = np.random.default_rng(7)
    for geometry in samples.cases(op, thorough=True):
        inputs, params = samples.build(op, rng, dtype, **geometry)
        assert_matches_torch(op, inputs, params, f"{dtype} {geometry}")


def nan_at(shape, where, dtype=np.float64, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)
    x[where] = np.nan
    return x


# NaN and ±inf cases whose answer torch defines and a plain formula gets wrong
SPECIAL = [
    ("relu_backward", [np.array([np.nan, 1.0, np.inf, -np.inf, 2.0]), np.array([-1.0, np.nan, -2.0, 0.0, 3.0])], {}),
    ("max_pool2d", [nan_at((1, 2, 4, 4), (0, 1, 1, 2))], dict(kernel_size=2)),
    ("max_pool2d", [nan_at((1, 1, 5, 5), (0, 0, 0, 0))], dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool2d_backward", [np.ones((1, 2, 2, 2)), nan_at((1, 2, 4, 4), (0, 1, 1, 2))], dict(kernel_size=2)),
    ("max_pool2d", [np.full((1, 1, 3, 3), -np.inf)], dict(kernel_size=2, stride=1)),
    # all -inf with padding: each window's gradient goes to its first REAL element (padding never wins a tie)
    ("max_pool2d_backward", [np.arange(1.0, 10.0).reshape(1, 1, 3, 3), np.full((1, 1, 3, 3), -np.inf)],
     dict(kernel_size=3, stride=1, padding=1)),
    ("avg_pool2d", [nan_at((1, 1, 4, 4), (0, 0, 3, 3))], dict(kernel_size=2, padding=1, count_include_pad=False)),
    ("softmax", [np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 0.0], [-np.inf, 0.0]])], {}),
    ("layer_norm", [np.array([[1.0, 1.0, 1.0], [np.inf, 0.0, 1.0]]), None, None], {}),
    ("mean", [np.zeros((0, 3))], dict(axes=0)),
    ("sum", [np.array([np.inf, -np.inf, 1.0])], {}),
    ("sum", [np.array(2.5)], dict(axes=0)),  # torch takes dim 0 (or -1) of a 0-D tensor: the tensor itself
    ("mean", [np.array(2.5)], dict(axes=-1, keepdims=True)),
    ("gemm", [np.array([[np.nan, 1.0], [2.0, 3.0]]), np.eye(2), None], dict(activation="relu")),
    ("hardswish_backward", [np.ones(7), np.array([-3.0, 3.0, -np.inf, np.inf, np.nan, -3.0001, 3.0001])], {}),
    ("div", [np.array([1.0, -1.0, 0.0, np.inf]), np.array([0.0, 0.0, 0.0, np.inf])], {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, inputs, params", SPECIAL, ids=[f"{op}-{i}" for i, (op, _, _) in enumerate(SPECIAL)])
def test_reference_matches_torch_on_nan_and_inf(op, inputs, params, dtype):
    inputs = [None if x is None else x.astype(dtype) for x in inputs]
    assert_matches_torch(op, inputs, params)


def test_max_pool_window_of_padding_only_gives_minus_inf_and_no_gradient():
    """Padding + dilation can place a whole window in the padding (H=1, padding 1, dilation 2: rows -1 and 1).
    torch returns -inf and its backward writes out of bounds (heap corruption, so it is no judge here); the
    reference returns -inf and passes no gradient (it used to wrap the gradient onto a real element)."""
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 1, 7))
    params = dict(kernel_size=2, stride=None, padding=(1, 0), dilation=(2, 2), ceil_mode=True)
    y = hal.reference().max_pool2d(x, **params)
    np.testing.assert_array_equal(y, np.full((1, 1, 1, 3), -np.inf))
    np.testing.assert_array_equal(hal.reference().max_pool2d_backward(np.ones_like(y), x, **params), np.zeros_like(x))


def test_batch_norm_backward_with_one_value_per_channel():
    """torch refuses training-mode batch norm with one value per channel; the limit is well defined: x̂ = 0,
    so grad_x and grad_weight are 0 and grad_bias is the gradient itself."""
    grad, x = np.array([[0.5, -2.0]]), np.array([[3.0, 4.0]])
    gx, gw, gb = hal.reference().batch_norm_backward(grad, x, x[0], np.zeros(2), np.ones(2))
    np.testing.assert_array_equal(gx, np.zeros((1, 2)))
    np.testing.assert_array_equal(gw, np.zeros(2))
    np.testing.assert_array_equal(gb, grad[0])


def test_relu_backward_keeps_the_gradient_at_nan_like_threshold_backward():
    out = hal.reference().relu_backward(np.array([5.0, 5.0, np.nan]), np.array([np.nan, -1.0, -1.0]))
    np.testing.assert_array_equal(out, [5.0, 0.0, 0.0])


@pytest.mark.parametrize("op", sorted(NO_TWIN))
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_streams_are_reproducible_and_distributed(op, dtype):
    """No torch twin: the same (seed, offset) gives the same numbers, another seed others, and the moments fit."""
    draw = getattr(hal.reference(), op)
    a = draw(shape=(200, 500), dtype=dtype, seed=3, offset=0)
    assert a.dtype == dtype and a.shape == (200, 500)
    np.testing.assert_array_equal(a, draw(shape=(200, 500), dtype=dtype, seed=3, offset=0))
    assert not np.array_equal(a, draw(shape=(200, 500), dtype=dtype, seed=4, offset=0))
    assert not np.array_equal(a, draw(shape=(200, 500), dtype=dtype, seed=3, offset=1))
    if op == "random_normal":
        b = draw(shape=(200, 500), dtype=dtype, seed=3, mean=2.0, std=0.5)
        assert abs(b.mean() - 2.0) < 0.01 and abs(b.std() - 0.5) < 0.01
    else:
        b = draw(shape=(200, 500), dtype=dtype, seed=3, low=-1.0, high=3.0)
        assert b.min() >= -1.0 and b.max() < 3.0 and abs(b.mean() - 1.0) < 0.02
