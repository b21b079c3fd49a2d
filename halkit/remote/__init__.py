"""halkit.remote — a device served by another process over gRPC.

* ``python -m halkit.remote serve`` runs a device server on one of this machine's drivers
  (:mod:`halkit.remote.server`); ``start_server()`` does it from Python as a child process.
* The ``remote`` driver (:mod:`halkit.remote.driver`, one file) is the client: set
  ``HALKIT_REMOTE=host:port`` and ``HALKIT_REMOTE_TOKEN_FILE``, or call :func:`connect`.
* ``python -m halkit.remote bench`` measures the link, launches and a model on it.
"""
from __future__ import annotations

from .launcher import ServerProcess, start_server


def connect(address: str | None = None, token_file: str | None = None, *, name: str = "remote", **kwargs):
    """Connect to a device server and register it as HAL device ``name``; returns the driver.

    ``address`` and ``token_file`` default to ``$HALKIT_REMOTE`` and ``$HALKIT_REMOTE_TOKEN_FILE``; ``kwargs``
    go to :class:`~halkit.remote.driver.RemoteDriver` (``token=``, ``timeout=``, ``probe_bytes=``).
    """
    from halkit import hal

    from .driver import RemoteDriver

    driver = RemoteDriver(address, token_file, **kwargs)
    driver.name = name
    hal.register_backend(name, driver)
    return driver


__all__ = ["connect", "start_server", "ServerProcess"]
