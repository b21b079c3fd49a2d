"""Which backends exist, which one runs the ops, and how many threads native kernels use.

Backends are found by name. The two shipped ones are built in; any other
package adds one through the ``halkit.backends`` entry-point group
(``name = "module:BackendClass"``), so a new device is one file plus one line
of packaging metadata and nothing above the HAL changes.

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

from .backend import Backend
from .errors import BackendUnavailableError

ENTRY_POINT_GROUP = "halkit.backends"

# name -> "module:Class"; imported only when first asked for.
_specs: dict[str, str] = {
    "numpy": "halkit.hal.builtin.numpy_reference:NumpyBackend",
    "native": "halkit.hal.builtin.native:NativeBackend",
}
_instances: dict[str, Backend] = {}
_failures: dict[str, str] = {}  # name -> why it could not be loaded
_lock = threading.RLock()
_discovered = False


class _Selection(threading.local):
    backend: Backend | None = None  # this thread's choice; None = the process default


_local = _Selection()
_default: Backend | None = None
_num_threads: int | None = None


def register_backend(name: str, spec: str) -> None:
    """Make backend ``name`` available, given as ``"module:Class"`` (imported lazily)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"backend name must be a non-empty string, got {name!r}")
    if ":" not in spec:
        raise ValueError(f"backend spec must look like 'module:Class', got {spec!r}")
    with _lock:
        _specs[name] = spec
        _instances.pop(name, None)
        _failures.pop(name, None)


def _discover() -> None:
    global _discovered
    with _lock:
        if _discovered:
            return
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _specs.setdefault(ep.name, ep.value)
        _discovered = True


def _load(name: str) -> Backend:
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
        module_name, _, class_name = _specs[name].partition(":")
        try:
            backend = getattr(importlib.import_module(module_name), class_name)()
        except Exception as exc:  # any import/constructor failure makes the backend unavailable
            _failures[name] = str(exc) if isinstance(exc, BackendUnavailableError) else f"{type(exc).__name__}: {exc}"
            raise BackendUnavailableError(f"backend {name!r} is unavailable: {_failures[name]}") from exc
        backend.set_num_threads(get_num_threads())
        _instances[name] = backend
        return backend


def get_backend(name: str) -> Backend:
    """The backend object called ``name``; raises BackendUnavailableError saying why if it cannot load."""
    return _load(name)


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


def _default_backend() -> Backend:
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


def active() -> Backend:
    """The backend that runs ops on the calling thread."""
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

    def __enter__(self) -> Backend:
        return _local.backend

    def __exit__(self, *exc_info) -> None:
        _local.backend = self._previous


def _threads_from_env() -> int:
    raw = os.environ.get("HALKIT_NUM_THREADS", "").strip()
    if not raw:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        return _check_threads(int(raw))
    except ValueError as exc:
        raise ValueError(f"HALKIT_NUM_THREADS={raw!r} is not a positive integer: unset it or set e.g. 2") from exc


def _check_threads(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"num_threads must be a positive int, got {n!r}")
    return n


def set_num_threads(n: int) -> None:
    """Threads the native kernels use (process-wide, like torch.set_num_threads)."""
    global _num_threads
    n = _check_threads(n)
    with _lock:
        _num_threads = n
        for backend in _instances.values():
            backend.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the native kernels use: set_num_threads, else $HALKIT_NUM_THREADS, else the usable cores."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _threads_from_env()
    return _num_threads
