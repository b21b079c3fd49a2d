"""Idle-thread policies that keep an interleaved comparison fair on a small machine (THE explanation; others link here).

After each call OpenBLAS's idle workers spin before they sleep, and OpenMP's
(torch's) spin too. Interleaved in one process (numpy, native, torch, ...),
those spinners steal cores from whichever candidate runs next: measured here
at 2 threads on 2 cores, numpy's own 256³ GEMM fell from 0.22 ms to 16 ms and
native's from 0.18 ms to 0.60 ms.

* ``OPENBLAS_THREAD_TIMEOUT=4``: an idle OpenBLAS worker spins for 2**N CPU
  cycles before it sleeps. Unset, N is 28 (2**28 cycles, ~0.1 s at 2.5 GHz);
  OpenBLAS clamps N to 4..30, so 4 is the shortest wait there is (16 cycles:
  the worker sleeps at once) and any smaller value means 4. Waking a sleeping
  worker costs a few microseconds per call, which only the tiniest GEMMs feel.
* ``OMP_WAIT_POLICY=PASSIVE``: OpenMP workers (torch's, inductor's kernels)
  sleep instead of spinning when they run out of work.

Both libraries read these variables once, when they load, so they must be in
the environment before numpy/torch are imported: ``python -m halkit.bench``
re-executes itself with them and ``make lab`` starts JupyterLab with them.
"""
from __future__ import annotations

import os

QUIET = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE"}


def missing() -> dict[str, str]:
    """The quiet settings the user has not set (a user's own value always wins)."""
    return {name: value for name, value in QUIET.items() if name not in os.environ}


def describe() -> str:
    """The idle-thread settings this process runs with, for the results' metadata."""
    return ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in QUIET)


def advice() -> str:
    """One line telling a user how to start Python so the comparison is fair."""
    return ("start Python with " + " ".join(f"{k}={v}" for k, v in QUIET.items())
            + " (python -m halkit.bench and make lab do; why: halkit/bench/idle_threads.py)")
