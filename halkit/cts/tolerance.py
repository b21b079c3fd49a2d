"""How close a driver's result must be to the numpy reference, per op and dtype.

Three classes of op:

* **exact** — data movement and selections (copies, casts, fills, relu, max
  pooling, embedding): bit-for-bit, NaN where the reference has NaN;
* **element-wise** — one rounding or one transcendental per element: a few ulp
  (``rtol`` 2e-6 / 1e-12, the bounds the op tests of tests/hal use);
* **accumulating** — GEMMs, convolutions, reductions, normalisations: each
  output sums L terms in some order, so the error grows like √L·ε relative to
  the result's magnitude: ``|got − ref| ≤ 16ε·|ref| + 64ε·√L·max|ref|``.

NaN and ±inf must sit where the reference has them in every class.
"""
from __future__ import annotations

import math

import numpy as np

from . import samples

EXACT = frozenset({"copy_strided", "cat", "cast", "fill", "relu", "relu_backward", "max_pool2d",
                   "max_pool2d_backward", "embedding"})
ELEMENTWISE = frozenset(samples.ELEMENTWISE) | {"add_bias", "random_normal", "random_uniform"}
_ELEMENTWISE_TOL = {np.dtype(np.float32): (2e-6, 1e-6), np.dtype(np.float64): (1e-12, 1e-13)}


def bounds(op: str, dtype, reference: np.ndarray, length: int) -> tuple[float, float]:
    """(rtol, atol) for comparing ``op``'s output against ``reference`` (L = ``length`` accumulated terms)."""
    dtype = np.dtype(dtype)
    if op in EXACT or dtype.kind != "f":
        return 0.0, 0.0
    if op in ELEMENTWISE:
        return _ELEMENTWISE_TOL[dtype]
    eps = float(np.finfo(dtype).eps)
    finite = np.abs(reference[np.isfinite(reference)])
    scale = float(finite.max()) if finite.size else 1.0
    return 16 * eps, 64 * eps * math.sqrt(length) * max(scale, float(np.finfo(dtype).tiny))


def mismatch(op: str, got: np.ndarray, reference: np.ndarray, length: int = 1) -> str | None:
    """None when ``got`` matches ``reference`` for ``op``; otherwise what differs, for a failure message."""
    if got.shape != reference.shape or got.dtype != reference.dtype:
        return f"result is {got.shape} {got.dtype}, the reference {reference.shape} {reference.dtype}"
    rtol, atol = bounds(op, reference.dtype, reference, length)
    with np.errstate(invalid="ignore", over="ignore"):
        nan_got, nan_ref = np.isnan(got), np.isnan(reference)
        same_inf = np.where(np.isinf(reference), got == reference, ~np.isinf(got))
        error = np.where(nan_ref | nan_got | np.isinf(reference), 0.0, np.abs(got.astype(np.float64) - reference))
        allowed = rtol * np.abs(reference.astype(np.float64)) + atol
    bad = (nan_got != nan_ref) | ~same_inf | (error > allowed)
    if not bad.any():
        return None
    i = tuple(int(v) for v in np.argwhere(bad)[0])
    return (f"{int(bad.sum())} of {bad.size} elements differ (rtol {rtol:.2g}, atol {atol:.2g}); first at {i}: "
            f"got {got[i]!r}, reference {reference[i]!r}")
