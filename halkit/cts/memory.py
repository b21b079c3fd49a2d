"""Conformance of device memory: allocation (sizes, capacity, stream-ordered free) and copies both ways."""
from __future__ import annotations

import numpy as np

from ..hal import OutOfMemoryError, empty, opset
from ..hal.dispatch import launch
from ..hal.errors import DeviceError
from .suite import assert_equal, check, expect_error, read, upload, view_of

#: allocation sizes: empty, tiny, odd, around a page, a MiB and a bit
SIZES = (0, 1, 3, 8, 4095, 4097, (1 << 20) + 7)
#: drivers at most this big get filled to capacity (a host driver's "capacity" is the machine's RAM)
FILLABLE = 1 << 30


@check("memory.allocate")
def allocate_sizes(ctx):
    """allocate(n) works for n = 0, 1, odd and page-straddling sizes; live allocations never alias; a negative
    size is refused."""
    driver = ctx.driver
    buffers = [driver.allocate(n) for n in SIZES]
    for buffer in buffers:
        driver.free(buffer)
    expect_error((ValueError, DeviceError), lambda: driver.allocate(-1), "allocate(-1)")
    stream = ctx.new_stream()
    a, b = empty((1001,), np.float32, driver), empty((1001,), np.float32, driver)
    driver.copy_in(a, np.full(1001, 1.0, np.float32), stream)
    driver.copy_in(b, np.full(1001, 2.0, np.float32), stream)
    assert_equal(read(driver, a, stream), np.full(1001, 1.0, np.float32), "first of two live allocations")
    assert_equal(read(driver, b, stream), np.full(1001, 2.0, np.float32), "second of two live allocations")


@check("memory.capacity")
def capacity(ctx):
    """More than capabilities().memory_bytes raises OutOfMemoryError; filling the device in eighths ends in
    OutOfMemoryError after at most 8, and once those are freed the same number fit again (no leaked
    reservation). Memory already in use by others is allowed for: the fill counts what fits now."""
    driver, total = ctx.driver, ctx.caps.memory_bytes
    expect_error(OutOfMemoryError, lambda: driver.allocate(total + 1), f"allocate(memory_bytes + 1 = {total + 1})")
    if ctx.caps.host_memory or total > FILLABLE:
        return  # filling the host's RAM (or a large device) is not a test one runs in CI
    chunk, held = total // 8, []
    try:
        while True:
            try:
                held.append(driver.allocate(chunk))
            except OutOfMemoryError:
                break
            if len(held) > 8:
                raise AssertionError(f"9 allocations of memory_bytes/8 succeeded: the capacity is not enforced")
    finally:
        for buffer in held:
            driver.free(buffer)
    fits = len(held)
    driver.synchronize(None, timeout=60)
    for _ in range(2):  # twice: the failed allocation must not have kept a reservation
        held = [driver.allocate(chunk) for _ in range(fits)]
        for buffer in held:
            driver.free(buffer)
        driver.synchronize(None, timeout=60)


@check("memory.free_ordered")
def free_is_stream_ordered(ctx):
    """free() while queued work still reads the buffer: the work sees the data, a new allocation written on
    another stream does not clobber it."""
    driver, rng = ctx.driver, ctx.rng
    n = 256
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    stream, other = ctx.new_stream(), ctx.new_stream()
    raw = driver.allocate(a.nbytes)
    x = view_of(driver, raw, a.shape, a.dtype)
    driver.copy_in(x, a, stream)
    y = empty((n, n), np.float32, driver)
    launch(driver, "gemm", [y], [x, x, None], opset.bind_params(opset.OPS["gemm"], {}), stream)
    driver.free(raw)
    reuse = upload(driver, np.full((n, n), np.nan, np.float32), other)  # may land where x was
    result = read(driver, y, stream)
    driver.synchronize(other, timeout=60)
    expected = a.astype(np.float64) @ a.astype(np.float64)
    if not np.allclose(result, expected, rtol=1e-4, atol=1e-3):
        raise AssertionError("a GEMM whose input was freed while queued read the wrong data "
                             f"(max error {np.nanmax(np.abs(result - expected)):.3g}; free must be stream-ordered)")
    del reuse


def _values(rng, shape, dtype):
    if np.dtype(dtype).kind == "i":
        return rng.integers(-2**40, 2**40, size=shape).astype(dtype)
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


def _copy_dtypes(ctx):
    return [*ctx.caps.dtypes, "int64"]  # int64 for indices, which every device holds


@check("copy.roundtrip")
def roundtrip(ctx):
    """copy_in then copy_out returns the data bit for bit, for every declared dtype (and int64 indices), 0-D,
    empty and odd shapes; the source may be overwritten as soon as copy_in returns."""
    driver = ctx.driver
    stream = ctx.new_stream()
    for dtype in _copy_dtypes(ctx):
        for shape in [(), (0,), (1,), (7,), (3, 5), (2, 0, 3), (1001, 3)]:
            original = _values(ctx.rng, shape, dtype)
            source = original.copy()
            x = empty(shape, dtype, driver)
            driver.copy_in(x, source, stream)
            source[...] = 0  # copy_in's contract: the source is reusable on return
            assert_equal(read(driver, x, stream), original, f"{dtype} {shape} round trip")


@check("copy.views")
def views(ctx):
    """Copies to and from DeviceArray views at byte offsets (rows of odd length, nested a[i][j], reshapes)
    touch exactly the viewed bytes."""
    driver = ctx.driver
    stream = ctx.new_stream()
    for dtype in _copy_dtypes(ctx):
        rows = _values(ctx.rng, (5, 3), dtype)  # 3 elements a row: offsets that are odd multiples of 4 or 8
        base = empty((5, 3), dtype, driver)
        driver.copy_in(base, np.zeros((5, 3), dtype), stream)
        for i in (1, 3):
            driver.copy_in(base[i], rows[i], stream)
        expected = np.zeros((5, 3), dtype)
        expected[[1, 3]] = rows[[1, 3]]
        assert_equal(read(driver, base, stream), expected, f"{dtype}: rows 1 and 3 written through views")
        assert_equal(read(driver, base[3], stream), rows[3], f"{dtype}: row 3 read through a view")
        assert_equal(read(driver, base[-1], stream), np.zeros(3, dtype), f"{dtype}: a negative index")
        cube = upload(driver, _values(ctx.rng, (3, 2, 5), dtype), stream)
        host = read(driver, cube, stream)
        assert_equal(read(driver, cube[2][1], stream), host[2, 1], f"{dtype}: nested view cube[2][1]")
        assert_equal(read(driver, cube.reshape(6, 5)[4], stream), host.reshape(6, 5)[4], f"{dtype}: reshaped view")
        assert_equal(read(driver, cube.reshape(-1), stream), host.reshape(-1), f"{dtype}: flat reshape")

