"""The torch ↔ HAL boundary: CPU tensors in, HAL arrays out and back, without copies.

``tensor.numpy(force=True)`` (a detached view for CPU tensors) and ``torch.from_numpy`` share memory, so a call
through a host driver costs no copy at the boundary (NumPy arrays, not tensors, go
into the HAL: handing tensors to pybind11 would cost ~5 µs per argument).
The one copy made here is for a non-contiguous tensor, which the HAL does not
accept; a transposed 2-D matrix is passed as a view instead (the HAL reads it
through its transpose flags). Parameters go through :mod:`halkit.torch.params`,
which keeps them as the current driver sees them (a cached view, or a resident
DeviceArray on a device behind a link).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from halkit.hal import DeviceArray
from halkit.hal.opset import BFLOAT16

from . import params

#: dtypes the HAL computes in; anything else is refused rather than silently cast.
SUPPORTED_DTYPES = (torch.float32, torch.float64)


def _checked(name: str, t) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name} has dtype {t.dtype}; halkit ops compute in float32 or float64: "
            f"cast with {name}.float() (or .double())"
        )
    if not t.is_cpu:
        raise ValueError(f"{name} is on {t.device}; halkit ops take CPU tensors (the HAL moves data itself)")
    return t


def dense(name: str, t: torch.Tensor) -> np.ndarray:
    """A C-contiguous array sharing t's memory (a contiguous copy if t is not contiguous)."""
    if type(t) is torch.Tensor and t.dtype in SUPPORTED_DTYPES and t.is_cpu:
        # The common case, tested in one expression: this runs for every tensor of every op. NumPy makes
        # the contiguous copy ~3x faster than Tensor.contiguous() at small sizes (e.g. the expanded,
        # stride-0 gradient a sum's backward hands over).
        a = t.numpy(force=True) if t.requires_grad else t.numpy()  # force= costs ~0.3 µs: only where needed
        return a if t.is_contiguous() else np.ascontiguousarray(a)
    if type(t) is nn.Parameter:
        return params.host_or_device(t, _checked, name)
    if not t.is_contiguous():
        t = t.contiguous()
    return _checked(name, t).numpy(force=True)


def optional_dense(name: str, t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else dense(name, t)


def matrix(name: str, t: torch.Tensor) -> np.ndarray:
    """A 2-D GEMM operand: C-contiguous, or the transposed view of a C-contiguous matrix (no copy)."""
    if type(t) is torch.Tensor and t.dtype in SUPPORTED_DTYPES and t.is_cpu and t.is_contiguous():
        return t.numpy(force=True) if t.requires_grad else t.numpy()  # the common case, as in dense
    if type(t) is nn.Parameter:
        return params.host_or_device(t, _checked, name)
    a = _checked(name, t).numpy(force=True)
    if a.ndim == 2 and not a.flags.c_contiguous and not a.flags.f_contiguous:
        a = np.ascontiguousarray(a)
    return a


def indices(name: str, t: torch.Tensor) -> np.ndarray:
    """An int64 index tensor as a C-contiguous array."""
    if not isinstance(t, torch.Tensor) or t.dtype != torch.int64 or not t.is_cpu:
        raise TypeError(f"{name} must be an int64 CPU tensor, got {getattr(t, 'dtype', type(t).__name__)}")
    return t.contiguous().numpy()


def tensor(a) -> torch.Tensor:
    """The HAL's result as a tensor sharing its memory (the HAL always returns a new array); a result left on
    a device behind a link (an op with resident parameters) is copied back first."""
    if type(a) is DeviceArray:
        a = a.numpy()
    return torch.from_numpy(a)


def host_view(t: torch.Tensor) -> np.ndarray:
    """A CPU tensor's elements as a C-contiguous NumPy array sharing its memory (a copy only if t is not
    contiguous), any dtype: bfloat16, which NumPy lacks, as ``ml_dtypes.bfloat16`` over the same bytes."""
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    return t.view(torch.int16).numpy().view(BFLOAT16) if t.dtype == torch.bfloat16 else t.numpy()


def host_tensor(a: np.ndarray) -> torch.Tensor:
    """A NumPy array as a tensor sharing its memory; ``ml_dtypes.bfloat16`` becomes ``torch.bfloat16``."""
    return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16) if a.dtype == BFLOAT16 else torch.from_numpy(a)
