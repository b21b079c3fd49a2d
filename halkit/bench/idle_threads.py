"""Idle-thread policies that keep an interleaved comparison fair on a small machine.

After each call OpenBLAS's idle workers spin for up to ~0.1 s and OpenMP's
(torch's) for a while too. Interleaved in one process (numpy, native, torch,
...), those spinners steal cores from whichever backend runs next: measured
here at 2 threads on 2 cores, numpy's own 256³ GEMM fell from 0.22 ms to
16 ms and native's from 0.18 ms to 0.60 ms. Both libraries read these
variables once, when they load, so they must be in the environment before
numpy/torch are imported: ``python -m halkit.bench`` re-executes itself with
them, ``make lab`` starts JupyterLab with them.
"""
from __future__ import annotations

import os

QUIET = {"OPENBLAS_THREAD_TIMEOUT": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def missing() -> dict[str, str]:
    """The quiet settings the user has not set (a user's own value always wins)."""
    return {name: value for name, value in QUIET.items() if name not in os.environ}


def describe() -> str:
    """The idle-thread settings this process runs with, for the results' metadata."""
    return ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in QUIET)
