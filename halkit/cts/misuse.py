"""Conformance of error paths: use after free, double free, bad launches, failures on the device, host
access to device memory, a closed device. Each must be a clear halkit exception, never a crash, a hang or
a silently wrong result — and the device must keep working afterwards."""
from __future__ import annotations

import numpy as np

from ..hal import (BufferFreedError, DeviceError, HostAccessError, StreamError, empty, opset, to_device)
from ..hal.dispatch import launch
from .suite import NotApplicable, assert_equal, check, expect_error, read, upload, view_of

_LAUNCH_ERRORS = (ValueError, TypeError, DeviceError)


@check("errors.use_after_free")
def use_after_free(ctx):
    """copy_in, copy_out and launch on a freed buffer raise BufferFreedError."""
    driver, stream = ctx.driver, ctx.new_stream()
    raw = driver.allocate(64)
    x = view_of(driver, raw, (16,), np.float32)
    driver.copy_in(x, np.ones(16, np.float32), stream)
    driver.synchronize(stream, timeout=60)
    driver.free(raw)
    live = upload(driver, np.ones(16, np.float32), stream)
    scale = opset.bind_params(opset.OPS["scale"], {})
    expect_error(BufferFreedError, lambda: driver.copy_in(x, np.zeros(16, np.float32), stream), "copy_in to a freed buffer")
    expect_error(BufferFreedError, lambda: driver.copy_out(np.empty(16, np.float32), x, stream),
                 "copy_out from a freed buffer")
    expect_error(BufferFreedError, lambda: driver.launch("scale", [live], [x], scale, stream), "launch reading a freed buffer")
    expect_error(BufferFreedError, lambda: driver.launch("scale", [x], [live], scale, stream), "launch writing a freed buffer")
    driver.synchronize(stream, timeout=60)


@check("errors.double_free")
def double_free(ctx):
    """Freeing a buffer twice raises BufferFreedError."""
    raw = ctx.driver.allocate(64)
    ctx.driver.free(raw)
    expect_error(BufferFreedError, lambda: ctx.driver.free(raw), "a second free of one buffer")


@check("errors.gemm_arguments")
def gemm_arguments(ctx):
    """A driver that declares ``checks_gemm_arguments`` (``hal.matmul``/``linear`` call its ``gemm`` before their
    own checks) refuses with TypeError or ValueError every argument its ``gemm`` cannot take: anything it let
    through would reach the user unchecked."""
    driver = ctx.driver
    if not driver.checks_gemm_arguments:
        raise NotApplicable("the driver leaves GEMM argument checks to the op API (checks_gemm_arguments is False)")
    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    cases = [
        ("inner dimensions that differ", a, a, None),
        ("inner dimensions that differ once transposed", a, b.T.copy(), None),
        ("a 1-D operand", np.ones(4, np.float32), b, None),
        ("a 3-D operand", a, np.ones((4, 5, 1), np.float32), None),
        ("operands of two dtypes", a, b.astype(np.float64), None),
        ("integer operands", a.astype(np.int64), b.astype(np.int64), None),
        ("float16 operands", a.astype(np.float16), b.astype(np.float16), None),
        ("a non-contiguous operand", np.ones((6, 8), np.float32)[::2, ::2], b, None),
        ("a list operand", [[1.0] * 4] * 3, b, None),
        ("a bias of the wrong length", a, b, np.ones(4, np.float32)),
        ("a bias of another dtype", a, b, np.ones(5, np.float64)),
        ("a 2-D bias", a, b, np.ones((1, 5), np.float32)),
    ]
    for what, x, y, bias in cases:
        expect_error((TypeError, ValueError), lambda: driver.gemm(x, y, bias, False, False, None),
                     f"gemm given {what}")
    assert_equal(driver.gemm(a, b, None, False, False, None), a @ b, "gemm after the refusals")


@check("errors.bad_launch")
def bad_launch(ctx):
    """launch refuses, at the call and naming the op, an unknown op, a missing input, an unknown parameter,
    mismatched shapes and outputs of the wrong shape or dtype."""
    driver, stream = ctx.driver, ctx.new_stream()
    a = upload(driver, np.ones((3, 4), np.float32), stream)
    b = upload(driver, np.ones((4, 5), np.float32), stream)
    c = upload(driver, np.ones((5, 2), np.float32), stream)
    good = opset.bind_params(opset.OPS["gemm"], {})
    out = empty((3, 5), np.float32, driver)
    cases = [
        ("an unknown op", lambda: driver.launch("no_such_op", [out], [a, b], {}, stream), "no_such_op"),
        ("a missing required input", lambda: driver.launch("gemm", [out], [a], good, stream), "gemm"),
        ("an unknown parameter", lambda: driver.launch("gemm", [out], [a, b, None], {**good, "bogus": 1}, stream),
         "bogus"),
        ("inner dimensions that differ", lambda: driver.launch("gemm", [empty((3, 2), np.float32, driver)],
                                                               [a, c, None], good, stream), "gemm"),
        ("an output of the wrong shape", lambda: driver.launch("gemm", [empty((3, 4), np.float32, driver)],
                                                               [a, b, None], good, stream), "gemm"),
        ("an output of the wrong dtype", lambda: driver.launch("gemm", [empty((3, 5), np.int64, driver)],
                                                               [a, b, None], good, stream), "gemm"),
        ("too many outputs", lambda: driver.launch("gemm", [out, out], [a, b, None], good, stream), "gemm"),
    ]
    for what, action, named in cases:
        expect_error(_LAUNCH_ERRORS, action, f"launch with {what}", must_mention=named)
    driver.launch("gemm", [out], [a, b, None], good, stream)  # and the device still works
    assert_equal(read(driver, out, stream), np.full((3, 5), 4.0, np.float32), "a good launch after bad ones")


@check("errors.device_side")
def device_side_failure(ctx):
    """A failure only the device can see (an embedding index out of range) surfaces as IndexError at the
    launch or as StreamError (chained to it) at the next synchronize — once; the stream works afterwards."""
    driver, stream = ctx.driver, ctx.new_stream()
    weight = upload(driver, np.ones((4, 3), np.float32), stream)
    indices = upload(driver, np.array([0, 7], np.int64), stream)
    out = empty((2, 3), np.float32, driver)
    try:
        launch(driver, "embedding", [out], [weight, indices], {}, stream)
        driver.synchronize(stream, timeout=60)
    except IndexError:
        pass
    except StreamError as exc:
        chain = [exc.__cause__, exc.__context__]
        if not any(isinstance(c, IndexError) for c in chain) and "index" not in str(exc).lower():
            raise AssertionError(f"StreamError does not say which failure it reports: {exc}") from exc
    else:
        raise AssertionError("an embedding index out of range raised nothing (silently wrong result)")
    driver.synchronize(stream, timeout=60)  # reported once: a second synchronize is clean
    assert_equal(read(driver, upload(driver, np.arange(5.0, dtype=np.float32), stream), stream),
                 np.arange(5.0, dtype=np.float32), "a copy after a device-side failure")


@check("errors.host_access")
def host_access(ctx):
    """The host cannot read device memory by accident: np.asarray, float(), bool() and iterating a DeviceArray
    raise HostAccessError; a device whose memory is not host memory hands out buffer handles that are not
    readable as host arrays either."""
    driver = ctx.driver
    x = to_device(np.arange(4, dtype=np.float32), driver)
    for what, action in [("np.asarray", lambda: np.asarray(x)), ("float(x[0])", lambda: float(x[0])),
                         ("bool(x)", lambda: bool(x)), ("list(x)", lambda: list(x)), ("x[1:3]", lambda: x[1:3])]:
        expect_error(HostAccessError, action, f"{what} on a DeviceArray")
    if driver.capabilities().host_memory:
        return
    try:
        view = np.asarray(x.buffer)
    except (HostAccessError, TypeError):
        return
    if view.dtype != object:
        raise AssertionError(f"np.asarray(buffer handle) gave a {view.dtype} array of shape {view.shape}: device "
                             "memory is readable from the host without a copy (raise HostAccessError in __array__)")


@check("lifecycle.close")
def close(ctx):
    """close() is idempotent, a free after close is a no-op (finalizers run late), and a closed device
    behind a link refuses new work with DeviceError."""
    try:
        fresh = type(ctx.driver)()
    except Exception as exc:  # noqa: BLE001 - any constructor needing arguments
        raise NotApplicable(f"{type(ctx.driver).__name__}() needs arguments ({exc}): close is checked on a fresh "
                            "instance only") from exc
    behind_a_link = not fresh.capabilities().host_memory
    x = to_device(np.arange(6.0, dtype=np.float32), fresh)
    raw = fresh.allocate(16)
    assert_equal(x.numpy(), np.arange(6.0, dtype=np.float32), "a fresh instance's round trip")
    fresh.close()
    fresh.close()
    fresh.free(raw)
    del x
    if behind_a_link:
        expect_error(DeviceError, lambda: fresh.allocate(16), "allocate on a closed device")
