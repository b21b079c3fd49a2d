"""The host-kernel ABI (cpp/host_kernels.h) called as C, through ctypes, against the native module's own ops.

The capsule ``_native.host_kernels`` is what halkit.torch.device._C calls for HALLinear's C++ route; here
each function is called on NumPy memory with the leading dimensions and transpose flags that route uses
(and others), on every ISA path and at 1 and 2 threads, and must give what the same op gives through the
HAL binding (itself checked against the numpy reference in test_gemm.py / test_eltwise.py).
"""
import ctypes

import numpy as np
import pytest
from conftest import native, rnd

_c_long, _f32p = ctypes.c_long, ctypes.POINTER(ctypes.c_float)


class HostKernels(ctypes.Structure):
    """The struct of host_kernels.h, field for field."""

    _fields_ = [
        ("gemm_f32", ctypes.CFUNCTYPE(ctypes.c_int, _f32p, _f32p, _f32p, _f32p, *[_c_long] * 6, *[ctypes.c_int] * 3)),
        ("sum_rows_f32", ctypes.CFUNCTYPE(ctypes.c_int, _f32p, _c_long, _c_long, _f32p)),
        ("relu_backward_f32", ctypes.CFUNCTYPE(ctypes.c_int, _f32p, _f32p, _f32p, _c_long)),
    ]


@pytest.fixture(scope="module")
def table():
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return HostKernels.from_address(get(native.host_kernels, b"halkit.host_kernels.v1"))


def ptr(a):
    return None if a is None else a.ctypes.data_as(_f32p)


# (m, n, k): 1x1, GEMV rows, odd edges, the skinny and packed paths, a large K
SHAPES = [(1, 1, 1), (1, 64, 64), (3, 5, 7), (4, 72, 33), (17, 1, 300), (64, 512, 512), (73, 129, 65), (2, 3, 4100)]


@pytest.mark.parametrize("m, n, k", SHAPES)
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_f32_is_the_native_gemm(table, isa, threads, m, n, k, trans_a, trans_b):
    rng = np.random.default_rng(m * n * k)
    a = rnd(rng, (k, m) if trans_a else (m, k), np.float32)
    b = rnd(rng, (n, k) if trans_b else (k, n), np.float32)
    bias = rnd(rng, (n,), np.float32)
    for activation, with_bias in ((0, False), (1, True), (2, True)):
        c = np.full((m, n), np.nan, np.float32)
        status = table.gemm_f32(ptr(a), ptr(b), ptr(bias if with_bias else None), ptr(c), m, n, k, a.shape[1],
                                b.shape[1], n, trans_a, trans_b, activation)
        assert status == 0
        expected = native.gemm(a, b, trans_a, trans_b, bias if with_bias else None, activation)
        np.testing.assert_array_equal(c, expected)  # the same kernel on the same memory: the same bits


def test_gemm_f32_writes_within_its_row_stride(table):
    rng = np.random.default_rng(0)
    # c is a 3x4 window of a 3x10 buffer (ldc 10): the columns outside it stay untouched
    a, b = rnd(rng, (3, 5), np.float32), rnd(rng, (5, 4), np.float32)
    buffer = np.full((3, 10), 7.0, np.float32)
    assert table.gemm_f32(ptr(a), ptr(b), None, ptr(buffer), 3, 4, 5, 5, 4, 10, 0, 0, 0) == 0
    np.testing.assert_array_equal(buffer[:, :4], native.gemm(a, b))
    assert (buffer[:, 4:] == 7.0).all()


@pytest.mark.parametrize("rows, n", [(1, 1), (1, 64), (7, 3), (1000, 300), (3, 70000)])
def test_sum_rows_f32_is_the_native_sum_rows(table, isa, threads, rows, n):
    rng = np.random.default_rng(rows + n)
    x = rnd(rng, (rows, n), np.float32)
    out = np.full(n, np.nan, np.float32)
    assert table.sum_rows_f32(ptr(x), rows, n, ptr(out)) == 0
    np.testing.assert_array_equal(out, native.sum_rows(x))


@pytest.mark.parametrize("count", [1, 15, 64, 300_001])
def test_relu_backward_f32_is_the_native_relu_backward(table, isa, threads, count):
    rng = np.random.default_rng(count)
    grad, x = rnd(rng, (count,), np.float32), rnd(rng, (count,), np.float32)
    x[::7] = 0.0  # relu's gradient at 0 is 0, as torch's
    out = np.full(count, np.nan, np.float32)
    assert table.relu_backward_f32(ptr(grad), ptr(x), ptr(out), count) == 0
    np.testing.assert_array_equal(out, native.relu_backward(grad, x))
