"""halkit.torch.device — the PyTorch device "halkit": tensors whose storage is HAL device memory.

After ``import halkit.torch`` (which imports this package), ``torch.device("halkit")``
exists: ``model.to("halkit")`` moves parameters into the memory of the HAL
driver chosen by :func:`use` (default: the mock accelerator), and torch's
dispatcher sends each op on those tensors to a kernel that runs it with the
HAL on DeviceArrays viewing the tensors' storage. Ops without a kernel run on
the CPU, counted (``torch.halkit.fallback_counts()``); ``halkit.hal.strict()``
or ``HALKIT_STRICT=1`` makes that an error naming the op.

The route: PrivateUse1 with a C++ half (``_C``: allocator, device guard,
hooks, generator, the view/metadata ops and torch's boxed CPU fallback, as
PyTorch's OpenReg example) and Python kernels of aten ops (``aten/``) over the HAL.
``torch.halkit`` is :mod:`.api` (device_count, synchronize, memory_allocated,
streams, events, manual_seed).
"""
from __future__ import annotations


import torch

from halkit.hal.errors import BackendUnavailableError

try:
    from . import _C
except ImportError as exc:  # the extension is built by `python -m halkit.build`
    _C = None
    _WHY_UNAVAILABLE = (f"the torch device extension is not built ({exc}): run `python -m halkit.build` "
                        "(or halkit.build() in a notebook)")
else:
    _WHY_UNAVAILABLE = ""

NAME = "halkit"


def available() -> bool:
    """True when the device extension is built and ``torch.device("halkit")`` works in this process."""
    return _C is not None


def require() -> None:
    """Raise BackendUnavailableError saying how to build the extension when it is not built."""
    if _C is None:
        raise BackendUnavailableError(_WHY_UNAVAILABLE)


def _setup() -> None:
    current = torch._C._get_privateuse1_backend_name()
    if current == NAME:
        return
    if current != "privateuseone":
        raise BackendUnavailableError(
            f"PyTorch's PrivateUse1 device is already registered as {current!r} in this process; "
            "torch allows one such device per process, so halkit's cannot be added")
    from . import api, copies, fallback, memory, aten  # noqa: F401  (aten registers the kernels of aten ops)

    torch.utils.rename_privateuse1_backend(NAME)
    torch._register_device_module(NAME, api)
    torch.utils.generate_methods_for_privateuse1_backend(for_storage=True)
    _C.install(memory.allocate, memory.copy_bytes, fallback.note, api.synchronize)


if _C is not None:
    _setup()
    from .api import (  # noqa: E402  (halkit.torch.device.driver is the module: driver.current(), driver.use)
        Event, Stream, current_stream, device_count, fallback_counts, manual_seed, memory_allocated, synchronize,
    )
    from .driver import use  # noqa: E402
    from .memory import as_array, as_tensor  # noqa: E402

__all__ = ["available", "require", "NAME"]
if _C is not None:
    __all__ += ["Event", "Stream", "as_array", "as_tensor", "current_stream", "device_count", "fallback_counts",
                "manual_seed", "memory_allocated", "synchronize", "use"]

