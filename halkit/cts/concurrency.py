"""Conformance under threads: several host threads issuing copies and launches at once, on their own
streams and on one shared stream, each checking its own results."""
from __future__ import annotations

import threading

import numpy as np

from .. import hal
from ..hal import empty
from .ordering import launch
from .suite import check, download, upload

THREADS = 4


def _run_threads(ctx, work) -> None:
    """Run ``work(index, iterations)`` on THREADS threads at once; re-raise the first failure."""
    iterations = 60 if ctx.thorough else 12
    errors, start = [], threading.Barrier(THREADS)

    def body(index):
        try:
            start.wait(timeout=60)
            work(index, iterations)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised on the checking thread
            errors.append(exc)
    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if any(t.is_alive() for t in threads):
        raise AssertionError(f"{sum(t.is_alive() for t in threads)} of {THREADS} threads did not finish in 120 s")
    if errors:
        raise AssertionError(f"{len(errors)} of {THREADS} threads failed; the first: "
                             f"{type(errors[0]).__name__}: {errors[0]}") from errors[0]


@check("threads.own_streams")
def own_streams(ctx):
    """Threads each with their own stream copy in, launch (gemm, scale) and copy out concurrently; every
    thread gets its own right answer."""
    driver = ctx.driver

    def work(index, iterations):
        stream = ctx.new_stream()  # list.append from several threads is safe
        rng = np.random.default_rng(index)
        for _ in range(iterations):
            a = rng.uniform(-1, 1, (48, 32)).astype(np.float32)
            x = upload(driver, a, stream)
            y, z = empty((48, 48), np.float32, driver), empty((48, 48), np.float32, driver)
            launch(driver, "gemm", [y], [x, x, None], stream, trans_b=True)
            launch(driver, "scale", [z], [y], stream, alpha=float(index + 1))
            got = download(driver, z, stream)
            driver.synchronize(stream, timeout=60)
            np.testing.assert_allclose(got, (index + 1) * (a @ a.T), rtol=1e-4, atol=1e-4)
    _run_threads(ctx, work)


@check("threads.shared_stream")
def shared_stream(ctx):
    """Threads issue op-API calls on DeviceArrays to the device's default stream at the same time (and free
    their arrays as they go); every thread gets its own right answer."""
    driver = ctx.driver

    def work(index, iterations):
        rng = np.random.default_rng(100 + index)
        for _ in range(iterations):
            a = rng.uniform(-1, 1, (33, 17)).astype(np.float32)
            x = hal.to_device(a, driver)
            y = hal.add(hal.scale(x, float(index)), x)
            np.testing.assert_allclose(y.numpy(), (index + 1) * a, rtol=1e-6, atol=1e-6)
    _run_threads(ctx, work)
