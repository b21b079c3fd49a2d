"""Argument validation shared by every op: one place that turns bad input into a clear message.

Drivers never see an argument these checks have not passed, so a new
driver file needs no validation of its own (and cannot be crashed from Python).
Arguments are NumPy arrays — exactly ``np.ndarray``: a subclass (np.matrix,
masked arrays) would change what ``*`` or a mask means on one driver and not
another, so it is refused with the conversion to use — or DeviceArrays.
"""
from __future__ import annotations

import numbers

import numpy as np

from .array import DeviceArray
from .opset import FLOAT_DTYPES, GEMM_DTYPES
#: the largest size/stride/padding a geometry parameter may have (beyond it, index arithmetic would overflow).
MAX_EXTENT = 2**31 - 1


def array(name: str, x):
    """x must be a NumPy array (not a subclass) or a DeviceArray."""
    if type(x) is np.ndarray or type(x) is DeviceArray:
        return x
    if isinstance(x, np.ndarray):
        raise TypeError(
            f"{name} is a {type(x).__name__}, a numpy.ndarray subclass whose operators or mask halkit would not "
            f"honour: pass np.asarray({name}) (for a masked array, {name}.filled(value) first)"
        )
    raise TypeError(
        f"{name} must be a numpy.ndarray or a halkit DeviceArray, got {type(x).__name__}: "
        f"convert it with np.asarray({name}, dtype=np.float32)"
    )


def floating(name: str, x, dtypes=FLOAT_DTYPES):
    """x must be a NumPy array or DeviceArray of one of ``dtypes`` (float32/float64; GEMMs add bfloat16)."""
    array(name, x)
    if x.dtype not in dtypes:
        if x.dtype in GEMM_DTYPES:  # bfloat16 given to an op that does not take it
            raise TypeError(f"{name} has dtype {x.dtype}; this op takes float32 or float64 (bfloat16 is taken by "
                            f"matmul, linear, cast and as_strided): use {name}.astype(np.float32)")
        names = " or ".join(d.name for d in dtypes)
        raise TypeError(f"{name} has dtype {x.dtype}; halkit ops take {names}: use {name}.astype(np.float32)")
    return x


def contiguous(name: str, x, dtypes=FLOAT_DTYPES):
    """x must be an array of ``dtypes`` laid out densely in C order (a DeviceArray always is)."""
    if type(x) is np.ndarray and x.dtype in dtypes and x.flags.c_contiguous:
        return x  # the common case, checked in one go: this runs on every op call
    floating(name, x, dtypes)
    if type(x) is np.ndarray and not x.flags.c_contiguous:
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
    if type(x) is np.ndarray and x.ndim == 2 and x.dtype in GEMM_DTYPES and x.flags.c_contiguous:
        return x, False  # the common case, checked in one go: this runs on every GEMM call
    floating(name, x, GEMM_DTYPES)
    ndim(name, x, 2)
    if type(x) is DeviceArray or x.flags.c_contiguous:
        return x, False
    if x.flags.f_contiguous:
        return x.T, True
    raise ValueError(
        f"{name} is not contiguous (shape {x.shape}, strides {x.strides}); only C-contiguous "
        f"matrices and their transposes are accepted: pass np.ascontiguousarray({name})"
    )


def vector(name: str, v, length: int, ref_name: str, ref: np.ndarray, dtypes=FLOAT_DTYPES) -> np.ndarray:
    """An optional 1-D parameter (bias, weight) of the given length, in ref's dtype."""
    contiguous(name, v, dtypes)
    same_dtype(ref_name, ref, name, v)
    if v.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},) to match {ref_name}, got {v.shape}")
    return v


#: the activations a GEMM can fuse.
ACTIVATIONS = (None, "relu", "gelu")


def activation(value) -> str | None:
    if value not in ACTIVATIONS:
        raise ValueError(f"activation must be None, 'relu' or 'gelu', got {value!r}")
    return value


def pair(name: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each in [minimum, MAX_EXTENT] (conv2d's stride/padding/dilation)."""
    values = (value, value) if isinstance(value, numbers.Integral) else tuple(value) if isinstance(value, (tuple, list)) else None
    if (
        values is None
        or len(values) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and minimum <= v <= MAX_EXTENT
                   for v in values)
    ):
        raise ValueError(f"{name} must be an int from {minimum} to {MAX_EXTENT} or a pair of them, got {value!r}")
    return int(values[0]), int(values[1])


def conv_padding(value, kernel_size, dilation) -> tuple[int, int]:
    """conv2d's padding: an int, a pair, "valid" (0) or "same" (the symmetric padding that keeps H and W)."""
    if value == "valid":
        return 0, 0
    if value == "same":
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        if any(t % 2 for t in totals):
            raise ValueError(
                f"padding='same' with kernel {tuple(kernel_size)} and dilation {tuple(dilation)} needs asymmetric "
                "padding, which conv2d does not take: use an odd (dilated) kernel or explicit padding")
        return totals[0] // 2, totals[1] // 2
    if isinstance(value, str):
        raise ValueError(f"padding must be an int, a pair of ints, 'valid' or 'same', got {value!r}")
    return pair("padding", value, 0)


def axis(value, x_ndim: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not -x_ndim <= value < x_ndim:
        raise ValueError(f"axis must be an int in [{-x_ndim}, {x_ndim}), got {value!r}")
    return int(value) % x_ndim


def eps(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"eps must be a finite number ≥ 0, got {value!r}")
    return float(value)


def scalar(name: str, value) -> float:
    """A real number parameter (alpha, a fill value...); NaN and ±inf are allowed, as in torch."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    return float(value)


def axes(value, x_ndim: int):
    """Reduction axes: None (all), an int, or a tuple of distinct ints in [-ndim, ndim), as a sorted tuple."""
    if value is None:
        return None
    values = (value,) if isinstance(value, numbers.Integral) else tuple(value) if isinstance(value, (tuple, list)) else None
    if values is None or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in values):
        raise ValueError(f"axes must be None, an int or a tuple of ints, got {value!r}")
    bound = max(x_ndim, 1)
    if any(not -bound <= a < bound for a in values):
        raise ValueError(f"axes must lie in [{-bound}, {bound}) for a {x_ndim}-D array, got {value!r}")
    normalized = sorted({int(a) % bound for a in values})
    if len(normalized) != len(values):
        raise ValueError(f"axes repeat an axis: {value!r}")
    return tuple(normalized)


def indices(name: str, x):
    """Integer indices: an int64 array (NumPy or DeviceArray)."""
    array(name, x)
    if x.dtype != np.int64:
        raise TypeError(f"{name} has dtype {x.dtype}; indices must be int64: use {name}.astype(np.int64)")
    return x
