"""Conformance of streams and events: in-order streams, cross-stream waits, event queries, timeouts.

The work is big enough (a few hundred MFLOP) that a driver which ignores an
ordering rule reads data that is not there yet, on any device that runs work
after the call returns. Ops go through the fallback-aware launch, so a
driver that lacks one of them is still checked for ordering.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..hal import empty, opset
from ..hal.dispatch import launch as _launch
from .suite import NotApplicable, check, download, read, upload


def launch(driver, op, outputs, inputs, stream, **params):
    _launch(driver, op, outputs, inputs, opset.bind_params(opset.OPS[op], params), stream)


def _slow_product(ctx, stream, n=384):
    """Queue an n×n GEMM on ``stream``; returns (host a, device result of a·a)."""
    a = ctx.rng.uniform(-1, 1, (n, n)).astype(np.float32)
    x = upload(ctx.driver, a, stream)
    y = empty((n, n), np.float32, ctx.driver)
    launch(ctx.driver, "gemm", [y], [x, x, None], stream)
    return a, y


def _busy(ctx, stream, seconds: float) -> bool:
    """Queue about ``seconds`` of GEMMs on ``stream`` into a scratch buffer; False when launches finish
    before they return (a synchronous driver). Timed on this device — a fixed amount of work is over
    before a fast device's wrong answer shows — and sized by the fastest of three GEMMs, so a calibration
    slowed by a busy machine cannot leave too little work queued."""
    driver = ctx.driver
    x = upload(driver, ctx.rng.uniform(-1, 1, (384, 384)).astype(np.float32), stream)
    scratch = empty((384, 384), np.float32, driver)
    fastest = math.inf
    for _ in range(3):
        start = time.perf_counter()
        launch(driver, "gemm", [scratch], [x, x, None], stream)
        driver.synchronize(stream, timeout=60)
        fastest = min(fastest, time.perf_counter() - start)
    launch(driver, "gemm", [scratch], [x, x, None], stream)
    if driver.query(driver.record(stream)):
        return False
    for _ in range(min(max(11, math.ceil(seconds / max(fastest, 1e-6))), 20000)):
        launch(driver, "gemm", [scratch], [x, x, None], stream)
    return True


def _close(got, a, factor=1.0, what=""):
    expected = factor * (a.astype(np.float64) @ a.astype(np.float64))
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-3):
        raise AssertionError(f"{what}: result does not match (max error {np.nanmax(np.abs(got - expected)):.3g}); "
                             "the stream did not keep its commands in order")


@check("stream.in_order")
def in_order(ctx):
    """On one stream, copy → launch → launch → copy run in issue order, and a copy_in issued after a launch
    does not change what the launch read."""
    driver, stream = ctx.driver, ctx.new_stream()
    a, y = _slow_product(ctx, stream)
    z = empty(y.shape, y.dtype, driver)
    launch(driver, "scale", [z], [y], stream, alpha=3.0)
    got = download(driver, z, stream)
    driver.synchronize(stream, timeout=60)
    _close(got, a, 3.0, "copy → gemm → scale → copy")

    b, y = _slow_product(ctx, stream)
    x = upload(driver, np.zeros((4, 4), np.float32), stream)
    twice = empty((4, 4), np.float32, driver)
    launch(driver, "scale", [twice], [x], stream, alpha=2.0)
    driver.copy_in(x, np.ones((4, 4), np.float32), stream)  # after the launch: the launch saw zeros
    assert (read(driver, twice, stream) == 0).all(), "a launch saw a copy_in issued after it"
    assert (read(driver, x, stream) == 1).all(), "copy_in after a launch was lost"


@check("stream.cross_stream_event")
def cross_stream_event(ctx):
    """stream2.wait(event recorded on stream1) makes stream2's later work see stream1's earlier results."""
    driver = ctx.driver
    first, second = ctx.new_stream(), ctx.new_stream()
    _busy(ctx, first, 0.2)  # y is written only after this: a stream that did not wait reads it unwritten
    a, y = _slow_product(ctx, first)
    event = driver.record(first)
    driver.wait(second, event)
    z = empty(y.shape, y.dtype, driver)
    launch(driver, "scale", [z], [y], second, alpha=2.0)
    got = download(driver, z, second)
    driver.synchronize(second, timeout=60)
    _close(got, a, 2.0, "work on stream 2 after waiting for stream 1's event")
    if not driver.query(event):
        raise AssertionError("query(event) is False although a stream that waited for it has finished")


@check("event.query_synchronize")
def query_and_synchronize(ctx):
    """record/query/synchronize: an event on an empty stream completes; synchronizing an event (or the whole
    device) completes everything before it, copies included; query is True afterwards."""
    driver, stream = ctx.driver, ctx.new_stream()
    empty_event = driver.record(stream)
    driver.synchronize(empty_event, timeout=60)
    if not driver.query(empty_event):
        raise AssertionError("query is False for an event on an empty stream after synchronizing it")
    a, y = _slow_product(ctx, stream)
    got = download(driver, y, stream)
    event = driver.record(stream)
    driver.synchronize(event, timeout=60)
    if not driver.query(event):
        raise AssertionError("query(event) is False right after synchronize(event) returned")
    _close(got, a, 1.0, "copy_out before a synchronized event")
    b, y = _slow_product(ctx, ctx.new_stream())
    driver.synchronize(None, timeout=60)  # the whole device
    _close(read(driver, y), b, 1.0, "after synchronize(None)")


@check("event.timeout")
def timeout(ctx):
    """synchronize(event, timeout) on work still running raises TimeoutError promptly, and the work still
    completes."""
    driver, stream = ctx.driver, ctx.new_stream()
    a, y = _slow_product(ctx, stream)
    driver.synchronize(stream, timeout=60)
    if not _busy(ctx, stream, 0.5):
        raise NotApplicable("a launch had finished when the call returned: no pending state to time out on")
    event = driver.record(stream)
    start = time.perf_counter()
    try:
        driver.synchronize(event, timeout=0.001)
    except TimeoutError:
        pass
    except Exception as exc:  # noqa: BLE001 - the wrong type is the finding
        raise AssertionError(f"synchronize(timeout=0.001) on pending work raised {type(exc).__name__} "
                             f"({exc}); a timeout must raise TimeoutError (e.g. a DeviceError subclass of it)")
    else:
        waited = time.perf_counter() - start
        if not driver.query(event):
            raise AssertionError("synchronize(timeout=0.001) returned before the event was reached, without raising")
        if waited > 0.05:  # fifty times the timeout: no scheduling delay explains that
            raise AssertionError(f"synchronize(timeout=0.001) blocked {waited * 1e3:.0f} ms until the work was done: "
                                 "the timeout was ignored")
        raise NotApplicable("the work finished within the 1 ms timeout: no pending state to time out on")
    _close(read(driver, y, stream), a, 1.0, "work that outlived a synchronize timeout")


@check("stream.destroy")
def destroy(ctx):
    """destroy_stream releases a stream whose work is still queued: that work runs to the end, its event
    completes, and new streams work."""
    driver = ctx.driver
    stream = driver.create_stream()
    a, y = _slow_product(ctx, stream)
    event = driver.record(stream)
    driver.destroy_stream(stream)
    driver.synchronize(event, timeout=60)
    _close(read(driver, y, ctx.new_stream()), a, 1.0, "work issued before destroy_stream")
