"""Prototype of the route NOT taken: torch 2.13's Python-only PrivateUse1 backend, measured against ours.

``_setup_privateuseone_for_python_backend`` registers hooks and a device guard from Python; tensors are
storage-less wrappers (``torch._C._acc.create_empty_tensor``) whose data is a Python attribute — here a
HAL DeviceArray. Only what a linear layer's forward needs is implemented (enough to time it), and
:func:`probe` records where the route breaks for everything else. Run it in its own process (PrivateUse1
can be renamed once per process): ``python tests/torch_device/python_route_prototype.py [driver]``.
"""
from __future__ import annotations

import io
import sys

import numpy as np
import torch
from torch.utils.backend_registration import _setup_privateuseone_for_python_backend

import halkit.hal as hal

_setup_privateuseone_for_python_backend("halkitpy")
_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}
_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


class DeviceTensor(torch.Tensor):
    """A storage-less tensor of device "halkitpy" carrying a DeviceArray (and a transpose flag: views
    must be emulated one op at a time on this route)."""

    @staticmethod
    def __new__(cls, array, transposed=False):
        shape = array.shape[::-1] if transposed else array.shape
        t = torch._C._acc.create_empty_tensor(shape, _TORCH[array.dtype])
        t.__class__ = cls
        return t

    def __init__(self, array, transposed=False):
        self.array, self.transposed = array, transposed


_lib = torch.library.Library("aten", "IMPL")


def _impl(name):
    def register(fn):
        _lib.impl(name, fn, "PrivateUse1")
        return fn
    return register


@_impl("empty.memory_format")
def _empty(size, *, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    return DeviceTensor(hal.empty(tuple(size), _NUMPY[dtype or torch.float32], _driver))


@_impl("empty_strided")
def _empty_strided(size, stride, *, dtype=None, layout=None, device=None, pin_memory=None):
    return _empty(size, dtype=dtype)


@_impl("_copy_from")
def _copy_from(src, dst, non_blocking=False):
    if src.device.type == "cpu":
        dst.array = hal.to_device(np.ascontiguousarray(src.numpy()), _driver)
    else:
        dst.copy_(torch.from_numpy(src.array.numpy()))
    return dst


@_impl("detach")
def _detach(t):
    return DeviceTensor(t.array, t.transposed)


@_impl("t")
def _t(t):
    return DeviceTensor(t.array, not t.transposed)


@_impl("addmm")
def _addmm(bias, x, w, *, beta=1, alpha=1):
    y = hal.dispatch.run("gemm", (x.array, w.array, bias.array), (False, w.transposed, None))
    return DeviceTensor(y)


def probe() -> dict[str, str]:
    """What an unmodified model needs beyond a forward linear, tried on this route: ok, or the error."""
    results = {}
    x = torch.randn(4, 6).to("halkitpy")

    def attempt(name, fn):
        try:
            fn()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - recording how the route fails is the point
            results[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:110]}"

    attempt("view of a slice (x[1:3])", lambda: x[1:3])
    attempt("reshape", lambda: x.reshape(24))
    attempt("in-place add through a view", lambda: x.t().add_(1))
    attempt("nn.Parameter around it", lambda: torch.nn.Parameter(x))
    attempt("torch.save", lambda: torch.save(x, io.BytesIO()))
    attempt("an op without a kernel (atan2)", lambda: torch.atan2(x, x))
    attempt("backward through linear", lambda: torch.nn.functional.linear(
        x.requires_grad_(), torch.randn(3, 6).to("halkitpy"), torch.randn(3).to("halkitpy")).sum().backward())
    return results


_driver = hal.get_backend(sys.argv[1] if len(sys.argv) > 1 and __name__ == "__main__" else "numpy")

def time_linear() -> float:
    """Seconds per call of a 1x64->64 linear on this route (the device synchronized at the end)."""
    import time

    x, w, b = torch.randn(1, 64), torch.randn(64, 64), torch.randn(64)
    xd, wd, bd = x.to("halkitpy"), w.to("halkitpy"), b.to("halkitpy")
    assert torch.allclose(torch.nn.functional.linear(xd, wd, bd).to("cpu"), torch.nn.functional.linear(x, w, b),
                          atol=1e-5)
    start = time.perf_counter()
    for _ in range(300):
        torch.nn.functional.linear(xd, wd, bd)
    hal.synchronize(_driver)
    return (time.perf_counter() - start) / 300


if __name__ == "__main__":
    torch.set_num_threads(1)
    hal.set_num_threads(1)
    if "--time" in sys.argv:
        print(time_linear())
    else:
        print(f"linear 1x64->64 on {_driver.name}: {time_linear() * 1e6:.1f} us per call")
        for name, outcome in probe().items():
            print(f"  {name}: {outcome}")
