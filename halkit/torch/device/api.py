"""``torch.halkit``: the device module torch looks up for device type "halkit" (as ``torch.cuda`` for "cuda").

Device management, memory, streams and events, random numbers — each mapped
onto the HAL driver that backs ``halkit:0`` (:mod:`.driver`).
"""
from __future__ import annotations

import torch

import halkit.hal as hal

from . import _C, fallback, memory
from . import driver as _driver

# --- the device ------------------------------------------------------------------------------------------------


def is_available() -> bool:
    return True


def is_initialized() -> bool:
    return True


def _is_in_bad_fork() -> bool:
    return False


def device_count() -> int:
    """One torch device, ``halkit:0``, backed by the current driver (halkit.torch.device.use(name) picks it)."""
    return 1


def current_device() -> int:
    return 0


def set_device(device) -> None:
    index = torch.device(device).index if not isinstance(device, int) else device
    if index not in (0, None):
        raise ValueError(f"halkit has one device, halkit:0; got index {index}")


class device:
    """``with torch.halkit.device(d):`` — the current-device context torch's generic code expects (one device)."""

    def __init__(self, device):
        set_device(device)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


def driver():
    """The halkit.hal driver new halkit tensors are allocated on."""
    return _driver.current()


def synchronize(device=None) -> None:
    """Wait until the device has finished everything issued to it (time device work only after this)."""
    hal.synchronize(_driver.current())


# --- memory ---------------------------------------------------------------------------------------------------

def memory_allocated(device=None) -> int:
    """Bytes of device memory held by live halkit tensors (their storages), like torch.cuda.memory_allocated."""
    return memory.bytes_in_use()


def fallback_counts() -> dict[str, int]:
    """{aten op: calls that ran on the CPU because halkit has no kernel for them}."""
    return fallback.counts()


# --- streams and events (the HAL's, on the current driver) ---------------------------------------------------

class Stream(hal.Stream):
    """A stream of the halkit device; ``with stream:`` issues the ops inside it there (a halkit.hal.Stream)."""

    def __init__(self, device=None, priority: int = 0):
        set_device(0 if device is None else device)
        super().__init__(_driver.current())


class Event:
    """A point in a halkit stream: ``record()`` it, ``wait()`` for it on another stream, ``synchronize()``."""

    def __init__(self, enable_timing: bool = False):
        self._event = None

    def record(self, stream: hal.Stream | None = None) -> None:
        self._event = (stream or current_stream()).record()

    def wait(self, stream: hal.Stream | None = None) -> None:
        if self._event is not None:
            (stream or current_stream()).wait(self._event)

    def query(self) -> bool:
        return self._event is None or self._event.query()

    def synchronize(self) -> None:
        if self._event is not None:
            self._event.synchronize()


def current_stream(device=None) -> hal.Stream:
    """The stream this thread's halkit ops are issued to."""
    return hal.current_stream(_driver.current())


def stream(s: hal.Stream) -> hal.Stream:
    """``with torch.halkit.stream(s):`` — s as this thread's current stream (s itself is a context manager)."""
    return s


# --- random numbers: a (seed, offset) generator feeding the HAL's counter-based random ops -------------------

def default_generator() -> torch.Generator:
    return _C.default_generator()


def manual_seed(seed: int) -> None:
    default_generator().manual_seed(int(seed))


manual_seed_all = manual_seed


def seed() -> int:
    return default_generator().seed()


def initial_seed() -> int:
    return default_generator().initial_seed()


def get_rng_state(device=None) -> torch.Tensor:
    return default_generator().get_state()


def set_rng_state(state: torch.Tensor, device=None) -> None:
    default_generator().set_state(state)
