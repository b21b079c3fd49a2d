"""When a device cannot run an op: the declared answers, counted, and strict mode.

An op missing from a driver's ``capabilities().ops`` (or asked in a dtype it
does not compute in) is never silently run somewhere else:

1. a **decomposition** (:mod:`halkit.hal.decompositions`) into ops the device
   does run keeps the work on the device;
2. otherwise a **host fallback** copies the inputs to the host, runs the numpy
   reference kernel and copies the results back — explicit transfers that show
   up in the device's stats and trace.

Both are counted per (device, op, kind) in :func:`fallback_counts`; the first
host fallback of each (device, op) warns. ``strict()`` (or ``HALKIT_STRICT=1``)
turns a host fallback into a FallbackError naming the op — users of other
execution providers complain most about silent fallbacks.
"""
from __future__ import annotations

import collections
import os
import threading
import warnings

from .errors import FallbackError

_lock = threading.Lock()
_counts: collections.Counter = collections.Counter()
_warned: set = set()


class HostFallbackWarning(UserWarning):
    """An op ran on the host because the device has no kernel for it (see halkit.hal.fallback_counts())."""


class _Strict(threading.local):
    depth = 0


_strict = _Strict()


def is_strict() -> bool:
    return _strict.depth > 0 or os.environ.get("HALKIT_STRICT", "").strip() not in ("", "0")


class strict:
    """``with hal.strict(): ...`` (or ``hal.strict()`` as a plain call, for good): a host fallback raises."""

    def __init__(self):
        _strict.depth += 1

    def __enter__(self) -> "strict":
        return self

    def __exit__(self, *exc_info) -> None:
        _strict.depth -= 1


def note(device: str, op: str, kind: str) -> None:
    """Count one fallback of ``kind`` ("decomposed" or "host"); strict mode refuses host fallbacks."""
    if kind == "host" and is_strict():
        raise FallbackError(
            f"op {op!r} is not supported by device {device!r} and would run on the host; strict mode "
            "forbids fallbacks (leave strict mode, or implement the op in the driver)")
    with _lock:
        _counts[(device, op, kind)] += 1
        first = kind == "host" and (device, op) not in _warned
        _warned.add((device, op))
    if first:
        warnings.warn(f"device {device!r} has no kernel for {op!r}: it runs on the host with explicit copies "
                      "(halkit.hal.fallback_counts() counts them; halkit.hal.strict() makes this an error)",
                      HostFallbackWarning, stacklevel=4)


def fallback_counts() -> dict:
    """{(device, op, kind): calls} since the process started (or the last reset_fallback_counts())."""
    with _lock:
        return dict(_counts)


def reset_fallback_counts() -> None:
    with _lock:
        _counts.clear()
        _warned.clear()
