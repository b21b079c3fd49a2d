"""How many threads host kernels use: the one place that reads the core count and HALKIT_NUM_THREADS.

The setting is process-wide (like torch.set_num_threads) and every driver with
a host thread pool follows it. Values are checked once, here, with one message
for every route (``set_num_threads``, the environment, the launcher's
``--hal-threads``): a thread count above MAX_THREADS is refused rather than
half-applied.
"""
from __future__ import annotations

import os
import warnings

#: the most threads halkit will start; far above any useful value on one host, low enough to be safe.
MAX_THREADS = 256


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not every core of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_num_threads(n, source: str = "num_threads") -> int:
    """``n`` as an int in [1, MAX_THREADS], or a ValueError naming ``source`` and the valid range."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_THREADS:
        raise ValueError(
            f"{source} must be an int from 1 to {MAX_THREADS} (this process may use {usable_cores()} cores), "
            f"got {n!r}")
    return n


def threads_from_env() -> int:
    """$HALKIT_NUM_THREADS when it is valid, else the usable cores (an invalid value warns and is ignored)."""
    raw = os.environ.get("HALKIT_NUM_THREADS", "").strip()
    if not raw:
        return usable_cores()
    try:
        return check_num_threads(int(raw), "HALKIT_NUM_THREADS")
    except ValueError:
        warnings.warn(f"HALKIT_NUM_THREADS={raw!r} is not an int from 1 to {MAX_THREADS}: ignoring it and using "
                      f"the {usable_cores()} usable cores", RuntimeWarning, stacklevel=3)
        return usable_cores()
