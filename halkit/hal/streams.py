"""Streams and events as users see them, over any driver's stream and event handles.

Each thread has a current stream per device (the driver's default stream
until ``with hal.Stream(device): ...`` picks another); ops on DeviceArrays
are issued to it. ``synchronize(device)`` waits for everything the device was
given — time a device op only after it, never from the host call alone.
"""
from __future__ import annotations

import threading


class _Current(threading.local):
    def __init__(self):
        self.streams = {}  # driver -> stream handle picked by this thread


_current = _Current()


def current_stream_handle(driver):
    """The driver-level stream this thread issues to on ``driver``."""
    return _current.streams.get(driver) or driver.default_stream


def _driver(device):
    from .array import resolve_driver  # array imports this module

    return resolve_driver(device)


class Event:
    """A point in a stream (``Stream.record``); another stream can wait for it, the host can synchronize on it."""

    def __init__(self, driver, handle):
        self.driver, self.handle = driver, handle

    def query(self) -> bool:
        """True once every command before the recorded point has run."""
        return self.driver.query(self.handle)

    def synchronize(self, timeout: float | None = None) -> None:
        """Block until the recorded point is reached; raises a failure that happened before it."""
        self.driver.synchronize(self.handle, timeout)

    def __repr__(self) -> str:
        return f"<Event on {self.driver.name!r}{' done' if self.query() else ''}>"


class Stream:
    """An in-order queue of one device. ``with stream: ...`` makes it the thread's current stream there;
    ``close()`` releases a stream this object created (a device stream may hold a worker thread)."""

    def __init__(self, device=None, handle=None):
        self.driver = _driver(device)
        self._owned = handle is None
        self.handle = self.driver.create_stream() if handle is None else handle
        self._previous = []

    def close(self) -> None:
        """Release the device stream (work already issued still runs). Idempotent; a no-op for a stream this
        object did not create, such as ``current_stream()``'s."""
        if self._owned:
            self._owned = False
            self.driver.destroy_stream(self.handle)

    def record(self) -> Event:
        return Event(self.driver, self.driver.record(self.handle))

    def wait(self, event: Event) -> None:
        """Work issued to this stream from now on starts after ``event``."""
        if not isinstance(event, Event):
            raise TypeError(f"event must be a halkit.hal.Event (from Stream.record()), got {type(event).__name__}")
        if event.driver is not self.driver:
            raise ValueError(f"event belongs to device {event.driver.name!r}, this stream to {self.driver.name!r}")
        self.driver.wait(self.handle, event.handle)

    def query(self) -> bool:
        return self.driver.query(self.driver.record(self.handle))

    def synchronize(self, timeout: float | None = None) -> None:
        self.driver.synchronize(self.handle, timeout)

    def __enter__(self) -> "Stream":
        self._previous.append(_current.streams.get(self.driver))
        _current.streams[self.driver] = self.handle
        return self

    def __exit__(self, *exc_info) -> None:
        previous = self._previous.pop()
        if previous is None:
            _current.streams.pop(self.driver, None)
        else:
            _current.streams[self.driver] = previous

    def __repr__(self) -> str:
        return f"<Stream on {self.driver.name!r}>"


def current_stream(device=None) -> Stream:
    """The stream this thread's ops on ``device`` (default: the current driver) are issued to."""
    driver = _driver(device)
    return Stream(driver, current_stream_handle(driver))


def synchronize(device=None, timeout: float | None = None) -> None:
    """Wait until ``device`` (default: the current driver) has finished all work issued to it."""
    _driver(device).synchronize(None, timeout)

