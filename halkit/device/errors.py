"""Errors raised by the mock accelerator; each derives from halkit's HalError so one except clause catches all."""
from halkit.hal.errors import HalError


class DeviceError(HalError, RuntimeError):
    """A device-level misuse or failure: closed device, mismatched buffers, unknown kernel."""


class OutOfMemoryError(DeviceError, MemoryError):
    """An allocation asked for more device memory than is free."""


class BufferFreedError(DeviceError):
    """A buffer was used, or freed, after it had already been freed."""


class HostAccessError(DeviceError, TypeError):
    """The host tried to read or write device memory directly instead of copying it."""


class StreamError(DeviceError):
    """A command on a stream failed; raised where the host synchronises, chained to the original error."""
