"""DeviceArray: an array that lives in a device's memory, and ``to_device`` to put one there.

A DeviceArray is a dense, C-ordered view (shape, dtype, byte offset) of one
buffer of one driver. Ops given DeviceArrays run on that device and return
DeviceArrays on it, so data stays where it is between ops; ``.numpy()`` is
the one way back to the host (a copy, after the device has finished). Several
DeviceArrays may view one buffer (``reshape``, indexing the first axis); the
buffer is freed, stream-ordered, when the last of them goes.

The host cannot read device memory by accident: ``np.asarray(device_array)``
raises HostAccessError on every driver, including those whose memory happens
to be host memory, so code written against one driver runs on all.
"""
from __future__ import annotations

import math

import numpy as np

from . import registry
from .driver import Driver
from .errors import HostAccessError
from .streams import current_stream_handle


class _Storage:
    """Ownership of one allocation: freed when the last DeviceArray viewing it is garbage-collected."""

    __slots__ = ("driver", "buffer", "nbytes")

    def __init__(self, driver: Driver, buffer, nbytes: int):
        self.driver, self.buffer, self.nbytes = driver, buffer, nbytes

    def __del__(self):
        try:
            self.driver.free(self.buffer)
        except Exception:  # noqa: BLE001 - a finalizer must not raise (e.g. a device already lost at exit)
            pass


class DeviceArray:
    """An array in device memory. Create with :func:`to_device`, :func:`empty`, or as an op's result."""

    __slots__ = ("driver", "shape", "dtype", "offset", "nbytes", "_storage", "__weakref__")

    def __init__(self, storage: _Storage, shape, dtype, offset: int = 0):
        self._storage = storage
        self.driver = storage.driver
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.offset = int(offset)
        self.nbytes = math.prod(self.shape) * self.dtype.itemsize

    @classmethod
    def _of(cls, storage: _Storage, shape: tuple, dtype: np.dtype, offset: int) -> "DeviceArray":
        """The constructor for values already normalised (an int tuple, an np.dtype): the hot path of every op."""
        array = cls.__new__(cls)
        array._storage, array.driver, array.shape, array.dtype, array.offset = storage, storage.driver, shape, dtype, offset
        array.nbytes = math.prod(shape) * dtype.itemsize
        return array

    # --- what a driver reads ---------------------------------------------------------------------------
    @property
    def buffer(self):
        """The driver's buffer handle this array views (at byte ``offset``)."""
        return self._storage.buffer

    # --- array metadata ----------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self.driver.name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-D DeviceArray")
        return self.shape[0]

    # --- views -------------------------------------------------------------------------------------------
    def reshape(self, *shape) -> "DeviceArray":
        """The same elements under another shape (no copy); one dimension may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        shape = tuple(int(d) for d in shape)
        if -1 in shape and shape.count(-1) == 1:
            known = math.prod(d for d in shape if d != -1)
            shape = tuple(self.size // known if d == -1 and known else d for d in shape)
        if math.prod(shape) != self.size or any(d < 0 for d in shape):
            raise ValueError(f"cannot reshape a DeviceArray of shape {self.shape} into {shape}")
        return DeviceArray._of(self._storage, shape, self.dtype, self.offset)

    def view(self, shape, dtype=None, offset: int = 0) -> "DeviceArray":
        """Another dense view of the same buffer (no copy): ``shape`` elements of ``dtype`` (default: this
        array's) starting ``offset`` bytes after this array's start; it must lie inside the buffer."""
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        start = self.offset + int(offset)
        end = start + math.prod(shape) * dtype.itemsize
        if any(d < 0 for d in shape) or start < 0 or end > self._storage.nbytes or start % dtype.itemsize:
            raise ValueError(
                f"a view of {shape} {dtype} at byte {start} does not fit the {self._storage.nbytes}-byte buffer "
                f"(or is not aligned to its {dtype.itemsize}-byte elements)")
        return DeviceArray(self._storage, shape, dtype, start)

    def __getitem__(self, index) -> "DeviceArray":
        """``a[i]``: the i-th sub-array along the first axis (a view). Other indexing needs a device op."""
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool) and self.shape:
            i = int(index) + (self.shape[0] if index < 0 else 0)
            if not 0 <= i < self.shape[0]:
                raise IndexError(f"index {index} is out of range for the first axis of size {self.shape[0]}")
            inner = self.shape[1:]
            return DeviceArray(self._storage, inner, self.dtype, self.offset + i * math.prod(inner) * self.itemsize)
        raise HostAccessError(
            f"a DeviceArray supports a[i] (an integer along the first axis) only, got {index!r}; "
            "copy it to the host with .numpy() to index it freely"
        )

    # --- back to the host --------------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A new host array with this array's contents (waits for the work that produces them)."""
        out = np.empty(self.shape, self.dtype)
        stream = current_stream_handle(self.driver)
        self.driver.copy_out(out, self, stream)
        self.driver.synchronize(stream)
        return out

    def _no_host_access(self, *args, **kwargs):
        raise HostAccessError(
            f"{self!r} lives in device memory: the host cannot read it directly; "
            "copy it with .numpy() (or halkit.hal.to_host)"
        )

    __array__ = __iter__ = __float__ = __int__ = _no_host_access

    def __bool__(self) -> bool:
        raise HostAccessError("the truth value of a DeviceArray needs its contents: use .numpy() first")

    def __repr__(self) -> str:
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype.name}, device={self.device!r})"


def resolve_driver(device) -> Driver:
    """A driver from a name, a Driver, a DeviceArray's device, or None (the calling thread's current one)."""
    if device is None:
        return registry.active()
    if isinstance(device, Driver):
        return device
    if isinstance(device, DeviceArray):
        return device.driver
    if isinstance(device, str):
        return registry.get_backend(device)
    raise TypeError(f"device must be a driver name, a halkit.hal.Driver or None, got {type(device).__name__}")


def empty(shape, dtype=np.float32, device=None) -> DeviceArray:
    """An uninitialised DeviceArray on ``device`` (default: the current driver)."""
    driver = resolve_driver(device)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ValueError(f"shape must be non-negative ints, got {shape!r}")
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    return DeviceArray(_Storage(driver, driver.allocate(nbytes), nbytes), shape, dtype)


def adopt(driver: Driver, array: np.ndarray) -> DeviceArray:
    """A host driver's kernel result as a DeviceArray, without a copy (the array becomes its buffer)."""
    return DeviceArray._of(_Storage(driver, array, array.nbytes), array.shape, array.dtype, 0)


def to_device(array, device=None) -> DeviceArray:
    """Copy a host array into device memory and return the DeviceArray (the host array may be reused at once).

    ``device`` is a driver name ("mock", "native", "remote", yours), a driver, or None for the current one.
    A DeviceArray already on that device is returned as it is; one on another device is moved through the host.
    """
    driver = resolve_driver(device)
    if isinstance(array, DeviceArray):
        if array.driver is driver:
            return array
        array = array.numpy()
    if type(array) is not np.ndarray:
        raise TypeError(
            f"array must be a numpy.ndarray (not a subclass such as {type(array).__name__}): "
            "pass np.asarray(array)" if isinstance(array, np.ndarray) else
            f"array must be a numpy.ndarray, got {type(array).__name__}: convert it with np.asarray(...)"
        )
    dtypes = driver.capabilities().held_dtypes
    if array.dtype.name not in dtypes and array.dtype != np.int64:
        raise TypeError(f"array has dtype {array.dtype}; device {driver.name!r} holds {dtypes} (and int64 "
                        f"indices): use array.astype(np.float32)")
    out = empty(array.shape, array.dtype, driver)
    # reshape: ascontiguousarray turns a 0-D array into shape (1,), and copy_in takes equal shapes only
    driver.copy_in(out, np.ascontiguousarray(array).reshape(array.shape), current_stream_handle(driver))
    return out


def to_host(array) -> np.ndarray:
    """``array.numpy()`` for a DeviceArray, a copy of a NumPy array otherwise."""
    return array.numpy() if isinstance(array, DeviceArray) else np.array(array)
