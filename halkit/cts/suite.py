"""The pieces every conformance check uses: the check registry, the context a check gets, and helpers
that move data through the contract methods (never through the op API unless the check is about it).

A check is a function ``check(ctx)`` registered under a feature id such as
``"memory.allocate"`` or ``"ops.gemm.float32"``. It passes by returning, fails
by raising (the message says what the driver did wrong), and raises
:class:`NotApplicable` when the feature does not exist on this driver (a
host driver has no timeouts to observe). A driver lists the features it
lacks in ``capabilities().unsupported`` (``{feature id or prefix: reason}``);
their failures are expected, and a listed feature that passes is reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..hal import DeviceArray, empty
from ..hal.driver import Capabilities, Driver


class NotApplicable(Exception):
    """The feature a check tests does not exist on this driver (the message says why)."""


@dataclass(frozen=True)
class Check:
    id: str  # the feature id, matched against capabilities().unsupported
    run: Callable  # (Context) -> None
    doc: str = ""


@dataclass
class Context:
    """What a check works with: the driver under test, its declared capabilities, a seeded generator."""

    driver: Driver
    thorough: bool = False
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    streams: list = field(default_factory=list)  # created by the check; destroyed after it

    @property
    def caps(self) -> Capabilities:
        return self.driver.capabilities()

    def new_stream(self):
        stream = self.driver.create_stream()
        self.streams.append(stream)
        return stream


#: checks that do not depend on the driver (op checks are generated per driver: see ops.py)
CHECKS: dict[str, Check] = {}


def check(feature: str):
    """Register ``fn`` as the check of ``feature`` (its docstring says what conforming means)."""
    def register(fn):
        if feature in CHECKS:
            raise ValueError(f"two conformance checks claim feature {feature!r}")
        CHECKS[feature] = Check(feature, fn, (fn.__doc__ or "").strip().splitlines()[0])
        return fn
    return register


# --- data through the contract ------------------------------------------------------------------------------

def device_array(driver: Driver, shape, dtype, at_offset: bool = False) -> DeviceArray:
    """A DeviceArray on ``driver``; with ``at_offset`` it is the second half of a twice-as-large allocation,
    so the driver must honour a non-zero byte offset (and must not write the first half)."""
    if not at_offset:
        return empty(shape, dtype, driver)
    return empty((2, *shape), dtype, driver)[1]


class _Borrowed:
    """Storage that does not own its buffer: a view of a raw ``allocate`` result whose life the check manages."""

    __slots__ = ("driver", "buffer", "nbytes")

    def __init__(self, driver, buffer, nbytes):
        self.driver, self.buffer, self.nbytes = driver, buffer, nbytes


def view_of(driver: Driver, buffer, shape, dtype, offset: int = 0) -> DeviceArray:
    """A DeviceArray over a raw buffer from ``driver.allocate``; freeing it stays the caller's job."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return DeviceArray(_Borrowed(driver, buffer, offset + nbytes), shape, dtype, offset)


def upload(driver: Driver, x, stream, at_offset: bool = False):
    """Host value → DeviceArray through ``copy_in`` (lists element-wise, None stays None)."""
    if x is None:
        return None
    if isinstance(x, list):
        return [upload(driver, v, stream, at_offset) for v in x]
    out = device_array(driver, x.shape, x.dtype, at_offset)
    driver.copy_in(out, np.asarray(x, order="C"), stream)  # ascontiguousarray would make 0-D 1-D
    return out


def download(driver: Driver, x: DeviceArray, stream) -> np.ndarray:
    """DeviceArray → new host array through ``copy_out``; valid after the caller synchronizes ``stream``."""
    host = np.empty(x.shape, x.dtype)
    driver.copy_out(host, x, stream)
    return host


def read(driver: Driver, x: DeviceArray, stream=None) -> np.ndarray:
    """download + synchronize: the contents of ``x`` once ``stream`` (default: a fresh one) gets there."""
    stream = driver.create_stream() if stream is None else stream
    host = download(driver, x, stream)
    driver.synchronize(stream, timeout=60)
    return host


def expect_error(types, action: Callable, what: str, must_mention: str | None = None) -> BaseException:
    """Run ``action``; it must raise one of ``types`` (whose message mentions ``must_mention``)."""
    try:
        action()
    except types as exc:
        if must_mention and must_mention.lower() not in str(exc).lower():
            raise AssertionError(f"{what}: raised {type(exc).__name__} but its message does not name "
                                 f"{must_mention!r}: {exc}") from exc
        return exc
    except Exception as exc:  # noqa: BLE001 - the wrong type is exactly what this reports
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise AssertionError(f"{what}: expected {names}, got {type(exc).__name__}: {exc}") from exc
    names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
    raise AssertionError(f"{what}: expected {names}, but nothing was raised")


def assert_equal(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    if got.shape != expected.shape or got.dtype != expected.dtype or not np.array_equal(got, expected,
                                                                                          equal_nan=True):
        raise AssertionError(f"{what}: got {got.shape} {got.dtype} {_preview(got)}, expected {expected.shape} "
                             f"{expected.dtype} {_preview(expected)}")


def _preview(x: np.ndarray) -> str:
    return np.array2string(x.reshape(-1)[:6], precision=4) + ("..." if x.size > 6 else "")
