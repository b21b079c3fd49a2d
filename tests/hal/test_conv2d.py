"""conv2d on every backend against torch.nn.functional.conv2d."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import halkit.hal as hal

from .tolerance import random

CASES = [
    # (x shape, w shape, stride, padding, dilation)
    ((1, 1, 1, 1), (1, 1, 1, 1), 1, 0, 1),
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, 1),
    ((1, 3, 9, 7), (5, 3, 3, 2), (2, 1), (1, 0), 1),
    ((2, 4, 11, 13), (6, 4, 3, 3), 2, 2, 2),
    ((1, 16, 14, 14), (32, 16, 5, 5), 1, 2, 1),
    ((3, 2, 5, 5), (1, 2, 5, 5), 1, 0, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_torch(on_backend, dtype, with_bias, rng):
    for x_shape, w_shape, stride, padding, dilation in CASES:
        x, w = random(rng, x_shape, dtype), random(rng, w_shape, dtype)
        b = random(rng, w_shape[:1], dtype) if with_bias else None
        y = hal.conv2d(x, w, b, stride, padding, dilation)
        expected = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                            None if b is None else torch.from_numpy(b).double(), stride, padding, dilation)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        assert y.shape == tuple(expected.shape) and y.dtype == dtype and y.flags.c_contiguous
        np.testing.assert_allclose(y, expected.numpy(), rtol=tol, atol=tol * np.sqrt(np.prod(w_shape[1:])))
