"""bfloat16 through the HAL op API: matmul, linear, cast and as_strided take ml_dtypes.bfloat16 arrays on every driver that
declares bfloat16 GEMMs, and are checked against the numpy reference (and torch's bfloat16 matmul); every other
op refuses bfloat16 with a message that says what does take it.
"""
import itertools

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import halkit.hal as hal

BF16 = np.dtype(ml_dtypes.bfloat16)
HOST_DRIVERS = [name for name in ("numpy", "native") if name in hal.backends()]


def bf16(rng, shape):
    return rng.standard_normal(shape).astype(np.float32).astype(BF16)


def close(got, want, terms):
    """One bfloat16 rounding step (2^-7 relative) plus float32 summation error, both in float64."""
    got, want = got.astype(np.float64), want.astype(np.float64)
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= 2.0**-7 * np.abs(want) + 1e-5 * terms + 1e-30)


def as_torch(a):
    return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)


@pytest.mark.parametrize("driver", HOST_DRIVERS)
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (5, 3, 7), (12, 32, 64), (33, 70, 1025), (0, 3, 4), (3, 4, 0)])
def test_linear_and_matmul_match_torch(driver, M, N, K):
    rng = np.random.default_rng(M + N + K)
    x, w, b = bf16(rng, (M, K)), bf16(rng, (N, K)), bf16(rng, (N,))
    terms = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T + np.abs(b.astype(np.float64))
    with hal.use(driver):
        y = hal.linear(x, w, b)
        assert y.dtype == BF16
        close(y, torch.nn.functional.linear(as_torch(x), as_torch(w), as_torch(b)).float().numpy(), terms)
        for ta, tb in itertools.product([False, True], repeat=2):  # transposes as flags and as F-ordered views
            a = np.ascontiguousarray(x.T) if ta else x
            bb = w if tb else np.ascontiguousarray(w.T)
            close(hal.matmul(a, bb, ta, tb), (as_torch(x) @ as_torch(w).T).float().numpy(), terms - np.abs(b.astype(np.float64)))
        close(hal.matmul(np.ascontiguousarray(x.T).T, w.T), (as_torch(x) @ as_torch(w).T).float().numpy(),
              terms - np.abs(b.astype(np.float64)))


@pytest.mark.skipif("native" not in hal.backends(), reason="native extension not built")
@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 70), k=st.integers(1, 300), act=st.sampled_from([None, "relu", "gelu"]),
       bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_native_matches_the_reference_driver(m, n, k, act, bias, seed):
    rng = np.random.default_rng(seed)
    x, w = bf16(rng, (3, m, k)), bf16(rng, (n, k))  # leading dims kept
    b = bf16(rng, (n,)) if bias else None
    with hal.use("native"):
        got = hal.linear(x, w, b, act)
    with hal.use("numpy"):
        want = hal.linear(x, w, b, act)
    terms = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
    close(got, want, terms + (np.abs(b.astype(np.float64)) if bias else 0) + (1e-1 if act == "gelu" else 0))


@pytest.mark.parametrize("driver", HOST_DRIVERS)
def test_cast_rounds_to_nearest_even_and_keeps_specials(driver):
    x = np.array([1 + 2**-8, 1 + 3 * 2**-9, -(1 + 2**-8), np.nan, np.inf, -np.inf, 1e-40, 3.4e38], np.float32)
    with hal.use(driver):
        y = hal.cast(x, BF16)
        assert y.dtype == BF16
        np.testing.assert_array_equal(y.view(np.uint16), x.astype(BF16).view(np.uint16))  # ml_dtypes' rounding
        np.testing.assert_array_equal(hal.cast(y, np.float32), y.astype(np.float32))  # widening is exact


@pytest.mark.parametrize("driver", HOST_DRIVERS)
def test_device_arrays_in_bfloat16(driver):
    rng = np.random.default_rng(0)
    x, w = bf16(rng, (4, 9)), bf16(rng, (5, 9))
    with hal.use(driver):
        y = hal.linear(hal.to_device(x, driver), hal.to_device(w, driver))
        assert y.dtype == BF16 and y.device == driver
        np.testing.assert_array_equal(y.numpy().view(np.uint16), hal.linear(x, w).view(np.uint16))


def test_capabilities_declare_bfloat16_per_op():
    for name in HOST_DRIVERS:
        caps = hal.get_backend(name).capabilities()
        assert caps.supports("gemm", BF16) and caps.supports("cast", BF16)
        assert not caps.supports("relu", BF16) and caps.supports("relu", np.float32)
        assert "bfloat16" in caps.held_dtypes and "bfloat16" not in caps.dtypes


def test_bfloat16_is_refused_where_it_is_not_taken():
    x = np.ones((2, 3), BF16)
    with pytest.raises(TypeError, match="bfloat16 is taken by matmul, linear, cast and as_strided"):
        hal.relu(x)
    with pytest.raises(TypeError, match="same dtype|cast one of them"):
        hal.matmul(x, np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match="b has dtype float32"):
        hal.linear(x, np.ones((4, 3), BF16), np.ones(4, np.float32))
    with pytest.raises(TypeError, match="float16"):
        hal.matmul(np.ones((2, 2), np.float16), np.ones((2, 2), np.float16))
    if "mock" in hal.backends():  # a device that declares no bfloat16 refuses to hold it
        with pytest.raises(TypeError, match="bfloat16"):
            hal.to_device(x, "mock")
