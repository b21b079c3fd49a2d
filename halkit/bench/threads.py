"""Pin every thread pool a benchmark touches to the same count, and put them back afterwards.

Three pools matter: the native kernels' (halkit.hal.set_num_threads), the BLAS
under NumPy (threadpoolctl), and torch's intra-op pool. A comparison where one
side silently uses more threads than the other measures nothing.
"""
from __future__ import annotations

import contextlib

import torch
from threadpoolctl import threadpool_limits

from halkit import hal


@contextlib.contextmanager
def pinned_threads(n: int):
    """Within the block, halkit native, NumPy's BLAS (and any OpenMP pool) and torch all use ``n`` threads."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"thread count must be a positive int, got {n!r}")
    old_hal, old_torch = hal.get_num_threads(), torch.get_num_threads()
    with threadpool_limits(limits=n):
        hal.set_num_threads(n)
        torch.set_num_threads(n)
        try:
            yield n
        finally:
            hal.set_num_threads(old_hal)
            torch.set_num_threads(old_torch)


def blas_description() -> str:
    """Which BLAS NumPy calls, e.g. 'openblas 0.3.31 (SkylakeX)'."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            arch = f" ({pool['architecture']})" if pool.get("architecture") else ""
            return f"{pool.get('internal_api', '?')} {pool.get('version', '?')}{arch}"
    return "unknown BLAS"
