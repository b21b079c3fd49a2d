"""HostDriver: the base of drivers whose device memory is host memory (numpy, native).

Such a driver only writes kernels — one method per op of the op set, taking
NumPy arrays (inputs in the op's declared order, then its parameters) and
returning NEW arrays, never an input or a view of one. This base turns that
into the whole device contract: a buffer is a NumPy array, copies are
``np.copyto``, work is done when the call returns (so every stream is always
complete), and ``launch`` runs the kernel and writes its results into the
caller's outputs. The op API skips even that for plain NumPy arguments and
calls the kernel directly, which is why a host driver costs nothing extra.
"""
from __future__ import annotations

import os

import numpy as np

from . import opset
from .cost import host_spec
from .driver import Capabilities, Driver
from .errors import DeviceError, OutOfMemoryError


class _Done:
    """The stream and event of a synchronous device: everything issued is already complete."""

    def __repr__(self) -> str:
        return "<completed>"


_DONE = _Done()


def _host_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


class HostDriver(Driver):
    """Kernels in host memory; subclasses add one method per op they run (see numpy_reference.py)."""

    dtypes = ("float32", "float64")
    # bfloat16 GEMMs (float32 sums), casts to and from it, and the layout copy that moves GEMM operands
    op_dtypes = {"gemm": ("bfloat16",), "cast": ("bfloat16",), "copy_strided": ("bfloat16",)}
    host_memory = True  # a class attribute, not the base's property: read on every op call

    @staticmethod
    def _generic_op_method(name: str):
        """An op this driver has no kernel for runs on the numpy reference — a counted host fallback."""
        def run_on_reference(self, *args, **kwargs):
            from . import fallback, registry

            fallback.note(self.name, name, "host")
            return getattr(registry.reference(), name)(*args, **kwargs)
        run_on_reference.__name__ = name
        return run_on_reference

    def capabilities(self) -> Capabilities:
        caps = self.__dict__.get("_capabilities")
        if caps is None:
            ops = frozenset(name for name in opset.OPS if not getattr(getattr(type(self), name), "generic", False))
            caps = self.__dict__["_capabilities"] = Capabilities(
                ops=ops, dtypes=self.dtypes, memory_bytes=_host_memory_bytes(), host_memory=True,
                cost=host_spec(f"{self.name} (host)"), unsupported=self.unsupported(), op_dtypes=self.op_dtypes)
        return caps

    def unsupported(self) -> dict:
        """Conformance features this driver lacks, with the reason."""
        why = ("host memory is reclaimed by the garbage collector: free() is a no-op, so a freed buffer "
               "cannot be told from a live one")
        return {"errors.use_after_free": why, "errors.double_free": why}

    # --- memory: NumPy arrays ------------------------------------------------------------------------
    def allocate(self, nbytes: int):
        nbytes = int(nbytes)
        if nbytes < 0:
            raise ValueError(f"allocate: nbytes must be >= 0, got {nbytes}")
        if nbytes > self.capabilities().memory_bytes:
            raise OutOfMemoryError(f"{self.name}: {nbytes} bytes requested, the host has "
                                   f"{self.capabilities().memory_bytes}")
        try:
            return np.empty(nbytes, np.uint8)
        except MemoryError as exc:
            raise OutOfMemoryError(f"{self.name}: the host could not provide {nbytes} bytes") from exc

    def free(self, buffer) -> None:
        """Host memory is freed by the garbage collector when the last view of it goes."""

    @staticmethod
    def view(array) -> np.ndarray:
        """The host array a DeviceArray of this driver denotes (no copy)."""
        buffer = array.buffer
        if array.offset == 0 and buffer.dtype == array.dtype and buffer.size * buffer.itemsize == array.nbytes:
            # the common case: a kernel's result adopted as it is (perhaps reshaped): a view, no copy
            return buffer if buffer.shape == array.shape else buffer.reshape(array.shape)
        flat = buffer.reshape(-1).view(np.uint8)
        return flat[array.offset:array.offset + array.nbytes].view(array.dtype).reshape(array.shape)

    def copy_in(self, dst, src, stream) -> None:
        np.copyto(self.view(dst), src)

    def copy_out(self, dst, src, stream) -> None:
        np.copyto(dst, self.view(src))

    def launch(self, op, outputs, inputs, params, stream) -> None:
        kernel = getattr(self, op, None)
        if kernel is None or op not in opset.OPS:
            raise DeviceError(f"driver {self.name!r} has no kernel for op {op!r}")
        params = opset.check_launch(op, outputs, inputs, params)
        arrays = [None if x is None else [self.view(v) for v in x] if isinstance(x, list) else self.view(x)
                  for x in inputs]
        results = kernel(*arrays, **params)
        for out, result in zip(outputs, results if isinstance(results, tuple) else (results,)):
            np.copyto(self.view(out), result)

    # --- ordering: nothing is ever pending -----------------------------------------------------------
    def create_stream(self):
        return _DONE

    def record(self, stream):
        return _DONE

    def wait(self, stream, event) -> None:
        pass

    def query(self, event) -> bool:
        return True

    def synchronize(self, target=None, timeout=None) -> None:
        pass
