"""Registering halkit kernels for aten ops (torch.library, dispatch key PrivateUse1 = "halkit").

``@kernel("add.Tensor", "add_.Tensor")`` registers one Python function for
those overloads. Around it, every call gets what torch's generated wrappers
give C++ kernels: the device check (mixing a CPU and a halkit tensor is
torch's usual error; CPU 0-dim tensors are scalars and allowed), and a
declared way out — a kernel that meets a case the HAL cannot run raises
:class:`Unsupported` and the call runs on the host, counted.
"""
from __future__ import annotations

import functools

import torch

from . import fallback, memory

_lib = torch.library.Library("aten", "IMPL")

#: "aten::name.overload" of every op with a halkit kernel, in registration order.
REGISTERED: list[str] = []


class Unsupported(Exception):
    """This call is outside what the HAL runs (dtype, argument value): run it on the host instead."""


def _mismatch(op_name: str, device, other) -> RuntimeError:
    return RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                        f"{device} and {other}! (in {op_name})")


def check_devices(op_name: str, args, kwargs) -> None:
    """Torch's device rule: every tensor on halkit, except CPU 0-dim tensors (scalars)."""
    device = other = None
    for value in (*args, *kwargs.values()):
        for t in (value if isinstance(value, (list, tuple)) else (value,)):
            if isinstance(t, torch.Tensor):
                if t.device.type == memory.DEVICE_TYPE:
                    device = t.device
                elif t.dim() or t.device.type != "cpu":
                    other = t.device
    if device is not None and other is not None:
        raise _mismatch(op_name, device, other)


def kernel(*overloads: str, one_device: bool = True, namespace: str = "aten"):
    """Register the decorated function as the halkit kernel of each overload ("mm", "add.Tensor") of the
    namespace's operators. ``one_device=False`` is for the copies, whose point is to take tensors of two devices."""
    def register(fn):
        for overload in overloads:
            packet, _, name = overload.partition(".")
            op = getattr(getattr(getattr(torch.ops, namespace), packet), name or "default")
            _library(namespace).impl(overload, _guarded(op, fn, one_device), "PrivateUse1")
            REGISTERED.append(op.name())
        return fn
    return register


_libraries = {"aten": _lib}


def _library(namespace: str) -> torch.library.Library:
    if namespace not in _libraries:
        _libraries[namespace] = torch.library.Library(namespace, "IMPL")
    return _libraries[namespace]


def _guarded(op, fn, one_device):
    name = op.name()

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if one_device:
            check_devices(name, args, kwargs)
        try:
            return fn(*args, **kwargs)
        except Unsupported:
            return fallback.run_on_host(op, args, kwargs)
    return run
