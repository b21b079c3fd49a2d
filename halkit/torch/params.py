"""Parameters as the current driver sees them — explicit residency, never a byte-comparing cache.

A layer's weight is read on every call, so converting it every time is
waste: on a host driver (memory shared with torch) the NumPy view of a
parameter is cached as long as its storage is the same; on a device behind a
link (the mock, a remote device) the parameter is kept RESIDENT as a
DeviceArray and uploaded again only when the tensor changed — which torch
tells us exactly: every in-place update (an optimizer step, ``param.data.mul_``,
``load_state_dict``) bumps the tensor's version counter, and rebinding
``param.data`` changes its storage pointer. Only nn.Parameter objects are
mirrored: activations and gradients are used once and go through unchanged.

Mirrors die with their parameter (weak keys); ``release(device)`` drops a
device's resident copies (e.g. before closing it).
"""
from __future__ import annotations

import threading
import weakref

from halkit.hal import registry, to_device

# id(parameter) -> (weak reference to it, {driver: (key, value)}). A plain dict keyed by identity: tensors
# compare element-wise, and torch's WeakIdKeyDictionary costs microseconds per lookup on this hot path.
_mirrors: dict[int, tuple] = {}
# Re-entrant: an allocation made while it is held can run the garbage collector, whose weakref callbacks
# (_forget) take it again on the same thread; a plain Lock deadlocked there.
_lock = threading.RLock()


def host_or_device(param, validate=None, name: str = "parameter"):
    """``param`` as the calling thread's driver takes it: a NumPy view (host) or a resident DeviceArray.

    ``validate(name, param)`` (e.g. a dtype and device check) runs whenever the parameter is converted
    afresh; a mirror still current was validated when it was made (its key holds dtype, shape and pointer).
    """
    driver = registry.active()
    entry = _mirrors.get(id(param))
    per_driver = entry[1] if entry is not None and entry[0]() is param else None
    if driver.host_memory:
        key = (param.data_ptr(), param.shape, param.dtype)  # in-place updates are seen through the view
    else:
        key = (param.data_ptr(), param.shape, param.dtype, param._version)
    if per_driver is not None:
        cached = per_driver.get(driver)
        # Contiguity is not in the key: a square parameter rebound to its transpose keeps pointer and shape.
        if cached is not None and cached[0] == key and param.is_contiguous():
            return cached[1]
    if validate is not None:
        validate(name, param)
    if not param.is_contiguous():  # a copy would go stale: convert this one afresh
        view = param.detach().contiguous().numpy()
        return view if driver.host_memory else to_device(view, driver)
    view = param.detach().contiguous().numpy()
    value = view if driver.host_memory else to_device(view, driver)
    with _lock:
        if per_driver is None:
            per_driver = {}
            _mirrors[id(param)] = (weakref.ref(param, _forget(id(param))), per_driver)
        per_driver[driver] = (key, value)
    return value


def _forget(key: int):
    def forget(_ref):
        with _lock:
            entry = _mirrors.get(key)
            if entry is not None and entry[0] is _ref:
                del _mirrors[key]
    return forget


def resident_bytes(device=None) -> int:
    """Bytes of parameters resident on ``device`` (a driver; default: the current one)."""
    driver = device or registry.active()
    with _lock:
        entries = [per.get(driver) for _, per in list(_mirrors.values())]
    return sum(e[1].nbytes for e in entries if e is not None and not driver.host_memory)


def release(device=None) -> None:
    """Forget every mirror on ``device`` (default: all devices); the next call uploads again."""
    with _lock:
        for _, per in list(_mirrors.values()):
            if device is None:
                per.clear()
            else:
                per.pop(device, None)
