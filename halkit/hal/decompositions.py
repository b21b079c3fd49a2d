"""Decompositions: an op a device lacks, written as ops it has, so the work stays on the device.

Each entry names the ops it launches; :func:`for_device` offers it only when
the device runs all of them (a decomposition's own launches may fall back in
turn only if the device stops declaring them). Intermediates are device
arrays; results are written into the caller's outputs.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

from . import opset


class Decomposition(NamedTuple):
    needs: frozenset
    run: Callable  # (driver, outputs, inputs, params, stream) -> None


def _launch(driver, op, outputs, inputs, params, stream):
    driver.launch(op, outputs, inputs, opset.bind_params(opset.lookup(op), params), stream)


def _temporary(like, shape=None):
    from .array import empty  # array → streams → registry; imported late to keep this module a leaf

    return empty(like.shape if shape is None else shape, like.dtype, like.driver)


def _bmm(driver, outputs, inputs, params, stream):
    """One GEMM per batch index, on views of the batched buffers (no copies)."""
    (out,), (a, b) = outputs, inputs
    for i in range(a.shape[0]):
        _launch(driver, "gemm", [out[i]], [a[i], b[i], None],
                dict(trans_a=params["trans_a"], trans_b=params["trans_b"]), stream)


def _mean(driver, outputs, inputs, params, stream):
    """sum, then scale by 1/count."""
    (out,), (x,) = outputs, inputs
    axes = opset.normalize_axes("mean", params["axes"], x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    total = _temporary(out)
    _launch(driver, "sum", [total], [x], params, stream)
    _launch(driver, "scale", [out], [total], dict(alpha=1.0 / count if count else float("nan")), stream)


def _silu(driver, outputs, inputs, params, stream):
    """x · sigmoid(x)."""
    (out,), (x,) = outputs, inputs
    gate = _temporary(x)
    _launch(driver, "sigmoid", [gate], [x], {}, stream)
    _launch(driver, "mul", [out], [x, gate], {}, stream)


def _sum_rows(driver, outputs, inputs, params, stream):
    (out,), (x,) = outputs, inputs
    _launch(driver, "sum", [out], [x], dict(axes=tuple(range(x.ndim - 1))), stream)


DECOMPOSITIONS: dict[str, Decomposition] = {
    "bmm": Decomposition(frozenset({"gemm"}), _bmm),
    "mean": Decomposition(frozenset({"sum", "scale"}), _mean),
    "silu": Decomposition(frozenset({"sigmoid", "mul"}), _silu),
    "sum_rows": Decomposition(frozenset({"sum"}), _sum_rows),
}


def for_device(op: str, driver) -> Callable | None:
    """The decomposition of ``op`` that ``driver`` can run entirely, or None."""
    decomposition = DECOMPOSITIONS.get(op)
    if decomposition is None or not decomposition.needs <= driver.capabilities().ops:
        return None
    return decomposition.run
