"""matmul and linear on every backend against the float64 exact product and torch."""
import numpy as np
import pytest
import torch

import halkit.hal as hal

from .tolerance import GEMM_TOL, gemm_error, random

DTYPES = [np.float32, np.float64]


def shape_catalogue(count=200, seed=1):
    """1×1, primes, skinny, wide, K up to 4096 and empty dims, then random shapes to reach `count`."""
    fixed = [
        (1, 1, 1), (1, 1, 7), (7, 1, 1), (1, 7, 1), (2, 3, 4), (5, 7, 11), (13, 17, 19), (31, 37, 41),
        (64, 64, 64), (65, 63, 67), (127, 129, 131), (1, 4096, 3), (3, 4096, 1), (8, 4096, 16), (1, 1024, 1024),
        (33, 257, 17), (96, 96, 96), (6, 16, 6), (7, 33, 17), (200, 3, 300),
        (0, 5, 3), (4, 5, 0), (4, 0, 3), (0, 0, 0),
    ]
    rng = np.random.default_rng(seed)
    shapes = list(fixed)
    while len(shapes) < count:
        m, n = (int(v) for v in rng.integers(1, 160, size=2))
        k = int(rng.integers(1, 4097) if m * n <= 1024 else rng.integers(1, 300))  # large K on small tiles keeps it fast
        shapes.append((m, k, n))
    return shapes


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_over_200_shapes(on_backend, dtype, rng):
    worst = 0.0
    for m, k, n in shape_catalogue():
        a, b = random(rng, (m, k), dtype), random(rng, (k, n), dtype)
        c = hal.matmul(a, b)
        assert c.shape == (m, n) and c.dtype == dtype and c.flags.c_contiguous
        worst = max(worst, gemm_error(c, a, b))
    assert worst <= GEMM_TOL[dtype]


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_transpose_flags(on_backend, trans_a, trans_b, dtype, rng):
    for m, k, n in [(1, 1, 1), (5, 7, 3), (33, 65, 17), (128, 300, 96), (0, 4, 3), (3, 0, 2)]:
        a = random(rng, (k, m) if trans_a else (m, k), dtype)
        b = random(rng, (n, k) if trans_b else (k, n), dtype)
        c = hal.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
        assert gemm_error(c, a.T if trans_a else a, b.T if trans_b else b) <= GEMM_TOL[dtype]


def test_transposed_views_cost_no_copy_and_are_correct(on_backend, rng):
    a, b = random(rng, (40, 30), np.float32), random(rng, (50, 40), np.float32)
    c = hal.matmul(a.T, b.T)  # F-contiguous views: absorbed as transpose flags
    assert gemm_error(c, a.T, b.T) <= GEMM_TOL[np.float32]


@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_matches_torch(on_backend, activation, dtype, rng):
    act = {None: lambda t: t, "relu": torch.relu, "gelu": torch.nn.functional.gelu}[activation]
    for lead, k, n in [((1,), 1, 1), ((64,), 512, 512), ((3, 5), 17, 9), ((7,), 4096, 5), ((), 8, 3), ((0,), 4, 6)]:
        x, w, b = random(rng, (*lead, k), dtype), random(rng, (n, k), dtype), random(rng, (n,), dtype)
        for bias in (b, None):
            y = hal.linear(x, w, bias, activation)
            expected = act(torch.nn.functional.linear(
                torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                None if bias is None else torch.from_numpy(bias).double())).numpy()
            assert y.shape == (*lead, n) and y.dtype == dtype
            tol = 1e-5 * np.sqrt(k) if dtype == np.float32 else 1e-12 * np.sqrt(k)
            np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_linear_fused_equals_unfused(on_backend, rng):
    x, w, b = random(rng, (64, 512), np.float32), random(rng, (512, 512), np.float32), random(rng, (512,), np.float32)
    fused = hal.linear(x, w, b, "relu")
    unfused = hal.relu(hal.add_bias(hal.matmul(x, w, trans_b=True), b))
    np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-5)


def test_results_never_alias_inputs(on_backend, rng):
    a = random(rng, (4, 4), np.float32)
    for out in (hal.matmul(a, a), hal.linear(a, a), hal.relu(a), hal.add_bias(a, a[0].copy())):
        assert not np.shares_memory(out, a)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # numpy warns; we match it
def test_nan_and_inf_propagate_like_numpy(on_backend):
    a = np.array([[np.nan, 1.0], [np.inf, 2.0]], dtype=np.float32)
    b = np.eye(2, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        expected = a @ b
    np.testing.assert_array_equal(hal.matmul(a, b), expected)
