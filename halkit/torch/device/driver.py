"""Which HAL driver holds the memory of the torch device ``halkit:0``.

Every torch device needs one answer to "where does a new tensor go": here it
is one driver per process, read on first use from ``$HALKIT_TORCH_DRIVER``,
else ``hal.default_accelerator()`` (the mock accelerator behind its link when
it loads, else the HAL's default driver). ``use(name)`` changes it (as a plain call, or for a ``with``
block). It is process-wide, not per thread, on purpose: torch runs backward
passes on its own worker threads, and their gradients must land on the same
driver as the forward pass's tensors.

Ops on existing tensors run on the driver that holds their storage, so a
tensor made before a switch keeps working; mixing tensors of two drivers in
one op is refused with the fix.
"""
from __future__ import annotations

import os
import threading

import halkit.hal as hal
from halkit.hal.errors import BackendUnavailableError

_lock = threading.Lock()
_current = None  # the halkit.hal Driver new tensors are allocated on


def _initial():
    wanted = os.environ.get("HALKIT_TORCH_DRIVER", "").strip()
    if wanted:
        try:
            return hal.get_backend(wanted)
        except BackendUnavailableError as exc:
            raise BackendUnavailableError(f"HALKIT_TORCH_DRIVER={wanted!r}: {exc}") from exc
    return hal.default_accelerator()


def current():
    """The driver new ``halkit`` tensors are allocated on."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = _initial()
    return _current


class use:
    """``use(name)`` (a driver or a registered backend name) allocates new halkit tensors on that driver from
    now on; ``with use(...)`` for a block."""

    def __init__(self, name):
        global _current
        driver = name if isinstance(name, hal.Driver) else hal.get_backend(name)  # fails before changing anything
        self._previous = current()
        with _lock:
            _current = driver

    def __enter__(self):
        return _current

    def __exit__(self, *exc_info):
        global _current
        with _lock:
            _current = self._previous
