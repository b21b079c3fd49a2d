"""How close a driver's result must be to the numpy reference, per op and dtype.

Three classes of op:

* **exact** — data movement and selections (copies, casts, fills, relu, max
  pooling, embedding): bit-for-bit, NaN where the reference has NaN (max
  pooling's gradient is not: overlapping windows add into one element);
* **element-wise** — one rounding or one transcendental per element: a few ulp
  (``rtol`` 2e-6 / 1e-12, the bounds the op tests of tests/hal use);
* **accumulating** — GEMMs, convolutions, reductions, normalisations: each
  output sums L terms in some order, so the error grows like √L·ε relative to
  the magnitude of what was summed: ``|got − ref| ≤ 16ε·|ref| + 64ε·√L·M``,
  M the largest finite magnitude among the result and the inputs (a gradient
  that cancels to ~0, as batch_norm's over two elements, is judged against
  the size of the terms that cancelled, not against its own).

NaN and ±inf must sit where the reference has them in every class.

bfloat16 results (GEMMs on a matrix engine) are compared as float32: the
accumulating bound of the float32 sums, plus one bfloat16 rounding step
(2⁻⁷ relative) — a sum in another order can round to the other neighbour.
"""
from __future__ import annotations

import math

import numpy as np

from ..hal.opset import BFLOAT16
from . import samples

EXACT = frozenset({"copy_strided", "cat", "cast", "fill", "relu", "relu_backward", "max_pool2d", "embedding"})
ELEMENTWISE = frozenset(samples.ELEMENTWISE) | {"add_bias", "random_normal", "random_uniform"}
_ELEMENTWISE_TOL = {np.dtype(np.float32): (2e-6, 1e-6), np.dtype(np.float64): (1e-12, 1e-13)}


def magnitude(arrays) -> float:
    """The largest finite |value| among float arrays (lists spread out, None skipped)."""
    flat = [x for a in arrays for x in (a if isinstance(a, list) else [a]) if x is not None and x.dtype.kind == "f"]
    finite = [np.abs(x[np.isfinite(x)]).max() for x in flat if np.isfinite(x).any()]
    return float(max(finite, default=0.0))


def bounds(op: str, dtype, reference: np.ndarray, length: int, inputs=()) -> tuple[float, float]:
    """(rtol, atol) for comparing ``op``'s output against ``reference`` (L = ``length`` accumulated terms)."""
    dtype = np.dtype(dtype)
    if op in EXACT or dtype.kind != "f":
        return 0.0, 0.0
    if op in ELEMENTWISE:
        return _ELEMENTWISE_TOL[dtype]
    eps = float(np.finfo(dtype).eps)
    scale = max(magnitude([reference, *inputs]), float(np.finfo(dtype).tiny))
    return 16 * eps, 64 * eps * math.sqrt(length) * scale


def mismatch(op: str, got: np.ndarray, reference: np.ndarray, length: int = 1, inputs=()) -> str | None:
    """None when ``got`` matches ``reference`` for ``op`` (run on ``inputs``); otherwise what differs."""
    if got.shape != reference.shape or got.dtype != reference.dtype:
        return f"result is {got.shape} {got.dtype}, the reference {reference.shape} {reference.dtype}"
    if reference.dtype == BFLOAT16:
        got, reference = got.astype(np.float32), reference.astype(np.float32)
        inputs = [x.astype(np.float32) if x is not None and x.dtype == BFLOAT16 else x for x in inputs]
        rtol, atol = bounds(op, np.float32, reference, length, inputs)
        rtol = rtol if op in EXACT else rtol + 2.0**-7
    else:
        rtol, atol = bounds(op, reference.dtype, reference, length, inputs)
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
