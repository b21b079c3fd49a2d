"""Conformance of the op API on a driver: DeviceArrays stay on the device, NumPy arrays round-trip,
user-level streams and events order ops."""
from __future__ import annotations

import contextlib

import numpy as np

from .. import hal
from ..hal import DeviceArray, fallback, registry
from .suite import assert_equal, check


def _block(ns, x, w, b):
    """A small transformer-ish chain of op-API calls, written once for NumPy and for DeviceArrays."""
    h = ns.linear(x, w, b, activation="gelu")
    h = ns.layer_norm(h)
    h = ns.add(h, ns.softmax(h, axis=0))
    h = ns.mul(ns.relu(h), ns.scale(h, 0.5, 0.25))
    return ns.sum(ns.matmul(h, w), axes=0), ns.mean(h, axes=1)


@contextlib.contextmanager
def _count_copies_out(driver):
    """Counts copy_out calls on ``driver`` (an instance attribute shadowing the method, removed afterwards)."""
    calls = []
    original = driver.copy_out

    def counting(dst, src, stream):
        calls.append(src.shape)
        original(dst, src, stream)
    driver.copy_out = counting
    try:
        yield calls
    finally:
        del driver.copy_out


def _inputs(rng):
    x = rng.uniform(-1, 1, (7, 16)).astype(np.float32)
    w = rng.uniform(-0.5, 0.5, (16, 16)).astype(np.float32)
    return x, w, rng.uniform(-1, 1, 16).astype(np.float32)


@check("api.device_resident")
def device_resident(ctx):
    """Op-API calls on DeviceArrays return DeviceArrays on the same device and copy nothing back to the host
    (unless an op falls back to the host, which is counted); the values match the reference."""
    driver = ctx.driver
    host = _inputs(ctx.rng)
    with hal.use("numpy"):
        expected = _block(hal, *host)
    devices = [hal.to_device(v, driver) for v in host]
    before = fallback.fallback_counts()
    with _count_copies_out(driver) as copies:
        results = _block(hal, *devices)
    host_fallbacks = {op for (name, op, kind), n in fallback.fallback_counts().items()
                      if name == driver.name and kind == "host" and n > before.get((name, op, kind), 0)}
    for r in results:
        if type(r) is not DeviceArray or r.driver is not driver:
            raise AssertionError(f"an op on {driver.name!r} DeviceArrays returned {r!r}, not a DeviceArray there")
    if copies and not host_fallbacks:
        raise AssertionError(f"{len(copies)} copy_out call(s) during ops on DeviceArrays with no host fallback: "
                             "the data left the device")
    for r, e in zip(results, expected):
        np.testing.assert_allclose(r.numpy(), e, rtol=1e-4, atol=1e-5)


@check("api.host_arrays")
def host_arrays(ctx):
    """With NumPy arguments the driver's op methods (what ``hal.use(name)`` calls) return new NumPy arrays
    that match the reference."""
    driver = ctx.driver
    x, w, b = _inputs(ctx.rng)
    reference = registry.reference()
    for name, args in [("gemm", (x, w, b, False, True, "relu")), ("softmax", (x,)), ("sum", (x, (0,), True)),
                       ("layer_norm_backward", (x, x, b[:16])), ("fill", ())]:
        got = getattr(driver, name)(*args)
        expected = getattr(reference, name)(*args)
        for g, e in zip(got if isinstance(got, tuple) else (got,), expected if isinstance(expected, tuple) else (expected,)):
            if type(g) is not np.ndarray or any(np.shares_memory(g, a) for a in args if isinstance(a, np.ndarray)):
                raise AssertionError(f"{driver.name}.{name} with NumPy arguments returned {type(g).__name__} "
                                     "(or a view of an input), not a new numpy.ndarray")
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5, err_msg=f"{driver.name}.{name}")
    if _registered(driver):  # hal.use(name) routes NumPy calls to it
        with hal.use(driver.name):
            got = hal.linear(x, w, b)
        np.testing.assert_allclose(got, reference.gemm(x, w, b, False, True, None), rtol=1e-5, atol=1e-5)


def _registered(driver) -> bool:
    try:
        return registry.get_backend(driver.name) is driver
    except hal.BackendUnavailableError:
        return False


@check("api.streams")
def streams(ctx):
    """hal.Stream as a context manager routes ops to that stream; Stream.wait(Event) orders two streams;
    Event.query/synchronize and hal.synchronize(device) agree."""
    driver = ctx.driver
    a = ctx.rng.uniform(-1, 1, (256, 256)).astype(np.float32)
    first, second = hal.Stream(driver), hal.Stream(driver)
    with first:
        x = hal.to_device(a, driver)
        y = hal.matmul(x, x)
        assert hal.current_stream(driver).handle is first.handle, "`with stream:` did not make it current"
    event = first.record()
    second.wait(event)
    with second:
        z = hal.scale(y, 2.0)
    second.synchronize(timeout=60)
    if not event.query():
        raise AssertionError("Event.query() is False after a stream that waited for it finished")
    event.synchronize(timeout=60)
    hal.synchronize(driver, timeout=60)
    np.testing.assert_allclose(z.numpy(), 2 * (a.astype(np.float64) @ a), rtol=1e-4, atol=1e-3)
    assert_equal(hal.to_device(a[:3], driver).numpy(), a[:3], "to_device(...).numpy()")
    first.close()
    second.close()
