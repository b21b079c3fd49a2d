"""Argument validation shared by every op: one place that turns bad input into a clear message.

Backends never see an argument these checks have not passed, so a new
backend file needs no validation of its own (and cannot be crashed from Python).
"""
from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def floating(name: str, x) -> np.ndarray:
    """x must be a float32/float64 NumPy array."""
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray, got {type(x).__name__}: "
            f"convert it with np.asarray({name}, dtype=np.float32)"
        )
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} has dtype {x.dtype}; halkit ops take float32 or float64: use {name}.astype(np.float32)"
        )
    return x


def contiguous(name: str, x) -> np.ndarray:
    """x must be a float array laid out densely in C order."""
    if type(x) is np.ndarray and x.dtype in FLOAT_DTYPES and x.flags.c_contiguous:
        return x  # the common case, checked in one go: this runs on every op call
    floating(name, x)
    if not x.flags.c_contiguous:
        raise ValueError(
            f"{name} is not C-contiguous (shape {x.shape}, strides {x.strides}): "
            f"pass np.ascontiguousarray({name})"
        )
    return x


def same_dtype(ref_name: str, ref: np.ndarray, name: str, x: np.ndarray) -> None:
    if x.dtype != ref.dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but {ref_name} has dtype {ref.dtype}: "
            f"cast one of them so they match (e.g. {name}.astype({ref_name}.dtype))"
        )


def ndim(name: str, x: np.ndarray, expected: int) -> None:
    if x.ndim != expected:
        raise ValueError(f"{name} must be {expected}-D, got {x.ndim}-D with shape {x.shape}")


def same_shape(ref_name: str, ref: np.ndarray, name: str, x: np.ndarray) -> None:
    if x.shape != ref.shape:
        raise ValueError(f"{name} has shape {x.shape} but {ref_name} has shape {ref.shape}: they must be equal")


def gemm_operand(name: str, x) -> tuple[np.ndarray, bool]:
    """A 2-D GEMM operand as (C-contiguous array, transposed?).

    A transposed view of a C-contiguous matrix (F-contiguous) is taken as its
    C-contiguous base plus a transpose flag, so it costs no copy.
    """
    if type(x) is np.ndarray and x.ndim == 2 and x.dtype in FLOAT_DTYPES and x.flags.c_contiguous:
        return x, False  # the common case, checked in one go: this runs on every GEMM call
    floating(name, x)
    ndim(name, x, 2)
    if x.flags.c_contiguous:
        return x, False
    if x.flags.f_contiguous:
        return x.T, True
    raise ValueError(
        f"{name} is not contiguous (shape {x.shape}, strides {x.strides}); only C-contiguous "
        f"matrices and their transposes are accepted: pass np.ascontiguousarray({name})"
    )


def vector(name: str, v, length: int, ref_name: str, ref: np.ndarray) -> np.ndarray:
    """An optional 1-D parameter (bias, weight) of the given length, in ref's dtype."""
    contiguous(name, v)
    same_dtype(ref_name, ref, name, v)
    if v.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},) to match {ref_name}, got {v.shape}")
    return v


def activation(value) -> str | None:
    if value not in (None, "relu", "gelu"):
        raise ValueError(f"activation must be None, 'relu' or 'gelu', got {value!r}")
    return value


def pair(name: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each ≥ minimum (conv2d's stride/padding/dilation)."""
    values = (value, value) if isinstance(value, numbers.Integral) else tuple(value) if isinstance(value, (tuple, list)) else None
    if (
        values is None
        or len(values) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in values)
    ):
        raise ValueError(f"{name} must be an int ≥ {minimum} or a pair of them, got {value!r}")
    return int(values[0]), int(values[1])


def axis(value, x_ndim: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not -x_ndim <= value < x_ndim:
        raise ValueError(f"axis must be an int in [{-x_ndim}, {x_ndim}), got {value!r}")
    return int(value) % x_ndim


def eps(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"eps must be a finite number ≥ 0, got {value!r}")
    return float(value)
