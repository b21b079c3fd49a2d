"""Which drivers exist, which one runs the ops, and how many threads host kernels use.

Drivers are found by name (users call them backends: ``hal.use("mock")``).
The host drivers are built in; any other package adds one through the
``halkit.backends`` entry-point group (``name = "module:DriverClass"``), or at
run time with ``register_backend``, so a new device is one file plus one line
and nothing above the HAL changes.

Selection is per thread: ``use(name)`` changes the calling thread's backend
(as a plain call, or restored on exit as a context manager); every thread
starts at the process default, which is ``$HALKIT_BACKEND`` if set, else
``native`` when it is built, else ``numpy``.
"""
from __future__ import annotations

import importlib
import os
import threading
from importlib.metadata import entry_points

from .driver import Driver
from .errors import BackendUnavailableError
from .threads import check_num_threads, threads_from_env

ENTRY_POINT_GROUP = "halkit.backends"

# name -> "module:Class"; imported only when first asked for.
_specs: dict[str, str] = {
    "numpy": "halkit.hal.builtin.numpy_reference:NumpyDriver",
    "native": "halkit.hal.builtin.native:NativeDriver",
}
_BUILTIN = tuple(_specs)  # the host drivers shipped with halkit
_DEFAULT_ACCELERATOR = "mock"  # see default_accelerator()
_entry_points: dict[str, str] = {}  # name -> "module:Class" declared by installed packages
_instances: dict[str, Driver] = {}
_failures: dict[str, str] = {}  # name -> why it could not be loaded
_lock = threading.RLock()
_discovered = False


class _Selection(threading.local):
    backend: Driver | None = None  # this thread's choice; None = the process default


_local = _Selection()
_default: Driver | None = None
_num_threads: int | None = None


def register_backend(name: str, spec) -> None:
    """Make driver ``name`` available: ``spec`` is ``"module:Class"`` (imported lazily), a Driver subclass, or
    a ready Driver instance (e.g. one connected to a remote server)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"backend name must be a non-empty string, got {name!r}")
    if not (isinstance(spec, Driver) or (isinstance(spec, type) and issubclass(spec, Driver))
            or (isinstance(spec, str) and ":" in spec)):
        raise ValueError(f"backend spec must be 'module:Class', a halkit.hal.Driver subclass or instance, got {spec!r}")
    with _lock:
        old = _instances.pop(name, None)
        _specs[name] = spec
        _failures.pop(name, None)
        if isinstance(spec, Driver):
            _instances[name] = spec
            spec.set_num_threads(get_num_threads())
    if old is not None and old is not spec and _default is not old:
        old.close()


def unregister_backend(name: str) -> None:
    """Forget driver ``name`` (closing its instance): the undo of ``register_backend``. Built-in drivers and
    entry points stay known; an unknown name is a no-op."""
    global _default
    with _lock:
        instance = _instances.pop(name, None)
        if name in _entry_points:
            _specs[name] = _entry_points[name]
        elif name not in _BUILTIN:
            _specs.pop(name, None)
        _failures.pop(name, None)
        if _default is instance:
            _default = None
    if instance is not None:
        instance.close()


def _discover() -> None:
    global _discovered
    with _lock:
        if _discovered:
            return
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _entry_points[ep.name] = ep.value
            _specs.setdefault(ep.name, ep.value)
        _discovered = True


def _load(name: str) -> Driver:
    _discover()
    with _lock:
        if name in _instances:
            return _instances[name]
        if name not in _specs:
            raise BackendUnavailableError(
                f"unknown backend {name!r}: known backends are {sorted(_specs)}; "
                f"a new one registers through the {ENTRY_POINT_GROUP!r} entry-point group "
                "or halkit.hal.register_backend()"
            )
        if name in _failures:
            raise BackendUnavailableError(f"backend {name!r} is unavailable: {_failures[name]}")
        spec = _specs[name]
        try:
            if isinstance(spec, str):
                module_name, _, class_name = spec.partition(":")
                spec = getattr(importlib.import_module(module_name), class_name)
            backend = spec()
        except Exception as exc:  # any import/constructor failure makes the backend unavailable
            _failures[name] = str(exc) if isinstance(exc, BackendUnavailableError) else f"{type(exc).__name__}: {exc}"
            raise BackendUnavailableError(f"backend {name!r} is unavailable: {_failures[name]}") from exc
        backend.set_num_threads(get_num_threads())
        _instances[name] = backend
        return backend


def get_backend(name: str) -> Driver:
    """The driver called ``name``; raises BackendUnavailableError saying why if it cannot load."""
    return _load(name)


def reference() -> Driver:
    """The numpy driver: the reference semantics, and where host fallbacks run."""
    return _load("numpy")


def backends() -> list[str]:
    """Names of the backends that load in this process now, the reference first."""
    _discover()
    available = []
    for name in list(_specs):
        try:
            _load(name)
        except BackendUnavailableError:
            continue
        available.append(name)
    return available


def unavailable_backends() -> dict[str, str]:
    """Backends that are known but failed to load, with the reason for each."""
    backends()
    return dict(_failures)


def refresh() -> None:
    """Forget load failures (e.g. after ``halkit.build()``) so the next request retries them."""
    global _default
    with _lock:
        _failures.clear()
        _default = None
    importlib.invalidate_caches()


def _default_backend() -> Driver:
    global _default
    if _default is None:
        wanted = os.environ.get("HALKIT_BACKEND", "").strip()
        if wanted:
            try:
                _default = _load(wanted)
            except BackendUnavailableError as exc:
                raise BackendUnavailableError(f"HALKIT_BACKEND={wanted!r}: {exc}") from exc
        else:
            try:
                _default = _load("native")
            except BackendUnavailableError:
                _default = _load("numpy")
    return _default


def default_accelerator() -> Driver:
    """The driver a framework's device (the torch device ``halkit``) allocates on when the user names none:
    the mock accelerator, registered like any third-party device, else (when it cannot load) the host default."""
    try:
        return _load(_DEFAULT_ACCELERATOR)
    except BackendUnavailableError:
        return _default_backend()


def active() -> Driver:
    """The driver that runs ops on the calling thread."""
    return _local.backend or _default or _default_backend()


def current_backend() -> str:
    """Name of the backend that runs ops on the calling thread."""
    return active().name


class use:
    """Select a backend for the calling thread.

    ``hal.use("native")`` switches until changed; ``with hal.use("numpy"): ...``
    switches for the block and restores the previous choice on exit, nesting
    correctly. Other threads are not affected.
    """

    def __init__(self, name: str):
        backend = _load(name)  # fail here, before anything changes
        self._previous = _local.backend
        _local.backend = backend

    def __enter__(self) -> Driver:
        return _local.backend

    def __exit__(self, *exc_info) -> None:
        _local.backend = self._previous


def set_num_threads(n: int) -> None:
    """Threads host kernels use (process-wide, like torch.set_num_threads); 1 to MAX_THREADS."""
    global _num_threads
    n = check_num_threads(n)
    with _lock:
        previous = get_num_threads()
        # The built-in host drivers own thread pools that exist as soon as their module is imported (the
        # native extension starts one on import, whoever imports it): load them now, so the count reaches a
        # pool that code used before its driver loaded. Other drivers get it when they load (see _load).
        for name in _BUILTIN:
            try:
                _load(name)
            except BackendUnavailableError:
                pass
        drivers = list(_instances.values())
        try:
            for backend in drivers:
                backend.set_num_threads(n)
        except Exception:
            for backend in drivers:  # leave every pool as it was, so get_num_threads() stays true
                backend.set_num_threads(previous)
            raise
        _num_threads = n


def get_num_threads() -> int:
    """Threads host kernels use: set_num_threads, else $HALKIT_NUM_THREADS, else the usable cores."""
    global _num_threads
    if _num_threads is None:
        _num_threads = threads_from_env()
    return _num_threads


def _reset_lock_in_child() -> None:
    # A fork while another thread held the lock (e.g. inside set_num_threads) would leave the child's
    # copy locked forever; the child has only the forking thread, so a fresh lock is correct.
    global _lock
    _lock = threading.RLock()


os.register_at_fork(after_in_child=_reset_lock_in_child)
