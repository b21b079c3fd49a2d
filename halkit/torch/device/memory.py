"""halkit tensors ↔ HAL DeviceArrays: two views of the same device memory, no copies between them.

A halkit tensor's storage is one HAL allocation (:func:`allocate` is what
torch's allocator calls); a dense tensor *is* a DeviceArray at its storage
offset, so ops hand the HAL views of the tensors' storage. A HAL op's result
becomes a tensor over the op's own output allocation (:func:`as_tensor`), so
nothing is copied on the way out either. Only a non-contiguous input costs a
copy: one ``copy_strided`` launch on the device (the HAL's layout op).
"""
from __future__ import annotations

import numpy as np
import torch

from halkit.hal import DeviceArray, dispatch
from halkit.hal.array import empty as hal_empty
from halkit.hal.streams import current_stream_handle

from . import _C
from . import driver as _driver

#: the torch device type (PrivateUse1, renamed).
DEVICE_TYPE = "halkit"

# torch dtype -> NumPy dtype of the same bytes (bfloat16 has no NumPy twin: its bytes travel as int16).
_NUMPY = {
    torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16, torch.bfloat16: np.int16,
    torch.int64: np.int64, torch.int32: np.int32, torch.int16: np.int16, torch.int8: np.int8,
    torch.uint8: np.uint8, torch.bool: np.bool_, torch.complex64: np.complex64, torch.complex128: np.complex128,
}
_NUMPY = {k: np.dtype(v) for k, v in _NUMPY.items()}
#: dtypes the HAL computes in; tensors of other dtypes live on the device but their ops run on the host.
COMPUTE_DTYPES = (torch.float32, torch.float64)
_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64, np.dtype(np.int64): torch.int64}


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    try:
        return _NUMPY[dtype]
    except KeyError:
        raise TypeError(f"halkit tensors cannot hold {dtype}: use one of {sorted(map(str, _NUMPY))}") from None


# --- allocations ---------------------------------------------------------------------------------------------

def allocate(nbytes: int, device_index: int):
    """torch's allocator asks for ``nbytes``: one allocation on the current driver (its owner object)."""
    return hal_empty((nbytes,), np.uint8, _driver.current())._storage


def owner(t: torch.Tensor):
    """The HAL allocation behind a halkit tensor's storage (None for an empty storage)."""
    return _C.owner(t)


def driver_of(t: torch.Tensor):
    found = _C.owner(t)
    return _driver.current() if found is None else found.driver


def copy_bytes(dst, src, nbytes: int) -> None:
    """Device → device copy of the first ``nbytes`` of allocation ``src`` into ``dst`` (a storage resize)."""
    dtype = np.dtype(np.float32) if nbytes % 4 == 0 else np.dtype(np.uint8)  # a bit-exact move, any contents
    n = nbytes // dtype.itemsize
    source = DeviceArray(src, (n,), dtype)
    dispatch.launch(src.driver, "copy_strided", [DeviceArray(dst, (n,), dtype)], [source],
                    dict(shape=(n,), strides=(1,), offset=0), current_stream_handle(src.driver))


# --- tensor -> DeviceArray ----------------------------------------------------------------------------------

def storage_array(t: torch.Tensor) -> DeviceArray:
    """All of t's storage as a flat DeviceArray of t's dtype (for layout ops that index it by strides)."""
    found = _C.owner(t)
    dtype = numpy_dtype(t.dtype)
    return DeviceArray(found, (found.nbytes // dtype.itemsize,), dtype)


def as_array(t: torch.Tensor) -> DeviceArray:
    """t's elements as a dense DeviceArray: a view of its storage when t is contiguous, else a dense copy
    made on the device by ``copy_strided``."""
    dtype = numpy_dtype(t.dtype)
    found = _C.owner(t)
    if found is None:  # nothing stored: an empty tensor
        return hal_empty(tuple(t.shape), dtype, _driver.current())
    if t.is_contiguous():
        return DeviceArray(found, t.shape, dtype, t.storage_offset() * dtype.itemsize)
    flat = DeviceArray(found, (found.nbytes // dtype.itemsize,), dtype)
    return dispatch.on_device(found.driver, "copy_strided", [flat],
                              dict(shape=tuple(t.shape), strides=t.stride(), offset=t.storage_offset()))[0]


def gemm_operand(t: torch.Tensor) -> tuple[DeviceArray, bool]:
    """A 2-D GEMM operand as (dense DeviceArray, transposed?): a transposed contiguous matrix (``w.t()``, which
    autograd and ``linear`` produce all the time) is read in place through the GEMM's transpose flag."""
    if t.dim() == 2 and not t.is_contiguous() and t.stride() == (1, t.shape[0]) and t.numel():
        return as_array(t.t()), True
    return as_array(t), False


# --- DeviceArray -> tensor ----------------------------------------------------------------------------------

def contiguous_strides(shape) -> list[int]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return strides[::-1]


def as_tensor(array: DeviceArray, shape=None) -> torch.Tensor:
    """A halkit tensor over a HAL op's result (no copy); ``shape`` reinterprets it (same element count)."""
    shape = tuple(array.shape if shape is None else shape)
    itemsize = array.dtype.itemsize
    allocation = array._storage
    return _C.wrap(allocation, allocation.nbytes, shape, contiguous_strides(shape), array.offset // itemsize,
                   _TORCH.get(array.dtype) or _torch_dtype(array.dtype))


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    for torch_dtype, numpy_twin in _NUMPY.items():
        if numpy_twin == dtype:
            return torch_dtype
    raise TypeError(f"no torch dtype for {dtype}")


def view_of(t: torch.Tensor) -> DeviceArray:
    """The DeviceArray a contiguous halkit tensor occupies (for writing an op's output into it)."""
    if not t.is_contiguous():
        raise ValueError("view_of needs a contiguous tensor")
    dtype = numpy_dtype(t.dtype)
    found = _C.owner(t)
    if found is None:
        return hal_empty(tuple(t.shape), dtype, _driver.current())
    return DeviceArray(found, t.shape, dtype, t.storage_offset() * dtype.itemsize)


def bytes_in_use() -> int:
    """Bytes of device memory held by live halkit tensors' storages."""
    return _C.bytes_in_use()
