"""Exceptions raised by halkit. Every error a user can trigger derives from HalError.

The device errors live here, in the lowest layer, because every driver raises
them: an out-of-memory on the mock, the remote device or your own card is the
same ``OutOfMemoryError``, so code above the HAL catches one type.
"""


class HalError(Exception):
    """Base class for halkit errors."""


class BackendUnavailableError(HalError, RuntimeError):
    """A driver was requested that cannot be used in this process; the message says why and how to fix it."""


class BuildError(HalError, RuntimeError):
    """Compiling the native extension failed; the message names the failing step and the fix."""


class DeviceError(HalError, RuntimeError):
    """A device-level misuse or failure: closed device, buffer of another device, unknown op."""


class OutOfMemoryError(DeviceError, MemoryError):
    """An allocation asked for more device memory than is free."""


class BufferFreedError(DeviceError):
    """A buffer was used, or freed, after it had already been freed."""


class HostAccessError(DeviceError, TypeError):
    """The host tried to read or write device memory directly instead of copying it."""


class StreamError(DeviceError):
    """A command on a stream failed; raised where the host synchronises, chained to the original error."""


class DeviceTimeoutError(DeviceError, TimeoutError):
    """synchronize(timeout=...) ran out before the device got there; the work goes on (catch TimeoutError)."""


class DeviceLostError(DeviceError):
    """The device stopped answering (process died, link dropped, request timed out); its buffers are gone."""


class FallbackError(HalError, RuntimeError):
    """Strict mode is on and an op would have left the device (a host fallback); the message names the op."""
