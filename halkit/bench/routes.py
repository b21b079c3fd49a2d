"""The four ways ``python -m halkit.bench models`` runs one model: eager torch, halkit's two routes, inductor.

Each route wraps its own deep copy of the model, so all start from the same
weights. A compiled route compiles on its first call; :func:`first_call`
is where that happens, with inductor told the thread count it will run at:
inductor bakes the count into its C++ kernels (``#pragma omp parallel
num_threads(N)``), so a model compiled at one count must not be timed at
another, and the explicit setting also keeps inductor's on-disk cache from
serving code generated for another count.
"""
from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

ROUTES = {
    "eager": "the model as written, torch eager (the reference of every ratio)",
    "convert": "halkit.convert(model): torch layers swapped for HAL modules, run eagerly",
    "halkit": 'torch.compile(model, backend="halkit"): the halkit graph compiler',
    "inductor": "torch.compile(model): torch's default backend (inductor, C++/OpenMP kernels)",
}


def prepare(route: str, model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(callable model for ``route``, the module whose parameters it trains) — on a deep copy of ``model``."""
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}: choose from {list(ROUTES)}")
    own = copy.deepcopy(model)
    if route == "eager":
        return own, own
    if route == "convert":
        import halkit

        converted = halkit.convert(own)
        return converted, converted
    if route == "halkit":
        import halkit  # noqa: F401  (registers the backend for torch.compile)

        return torch.compile(own, backend="halkit"), own
    return torch.compile(own), own


def first_call(route: str, threads: int):
    """The context a route's first (compiling) call runs in."""
    if route != "inductor":
        return contextlib.nullcontext()
    import torch._inductor.config as inductor_config

    return inductor_config.patch({"cpp.threads": threads})
