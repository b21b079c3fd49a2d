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
        reports = []
        compiled = torch.compile(own, backend=_recording_halkit_backend(reports))
        compiled.halkit_compile_reports = reports  # see compile_reports()
        return compiled, own
    return torch.compile(own), own


def compile_reports(runnable) -> list:
    """The halkit.runtime CompileReports of a "halkit" route's graphs so far (one per Dynamo graph, its backward
    graph added at the first backward); [] for the other routes."""
    return list(getattr(runnable, "halkit_compile_reports", ()))


def _recording_halkit_backend(reports: list):
    """backend="halkit" itself, keeping each graph's report (the runtime's last_report() holds only the latest)."""
    import halkit  # noqa: F401  (registers the backend for torch.compile)
    from halkit.runtime import last_report

    halkit_backend = torch._dynamo.lookup_backend("halkit")

    def backend(gm, example_inputs):
        compiled = halkit_backend(gm, example_inputs)
        reports.append(last_report())
        return compiled

    return backend


def first_call(route: str, threads: int):
    """The context a route's first (compiling) call runs in."""
    if route != "inductor":
        return contextlib.nullcontext()
    import torch._inductor.config as inductor_config

    return inductor_config.patch({"cpp.threads": threads})
