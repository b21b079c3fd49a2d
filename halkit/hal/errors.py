"""Exceptions raised by halkit. Every error a user can trigger derives from HalError."""


class HalError(Exception):
    """Base class for halkit errors."""


class BackendUnavailableError(HalError, RuntimeError):
    """A backend was requested that cannot be used in this process; the message says why and how to fix it."""


class BuildError(HalError, RuntimeError):
    """Compiling the native extension failed; the message names the failing step and the fix."""
