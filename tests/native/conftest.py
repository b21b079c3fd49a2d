"""Shared fixtures of the native kernel tests: the module, the numpy reference driver, ISA paths, thread counts.

Every kernel is checked against the numpy reference driver (the HAL's definition of each op) over many shapes,
on every ISA path this CPU can run (switched in-process with ``_native._use_isa``) and at 1 and 2 threads.
Correctness only: nothing here times anything.
"""
import numpy as np
import pytest

native = pytest.importorskip("halkit._native", reason="native extension not built: run `python -m halkit.build`")

from halkit.hal.builtin.numpy_reference import NumpyDriver  # noqa: E402

DTYPES = [np.float32, np.float64]
#: element-wise tolerance per dtype (vector exp/erf/tanh are within a few ulp)
EW = {np.float32: dict(rtol=2e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
#: reductions and normalisations (sums in another order than NumPy's pairwise sums)
RED = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


@pytest.fixture(scope="session")
def ref():
    return NumpyDriver()


@pytest.fixture(autouse=True)
def _restore_threads_and_isa():
    n, isa = native.get_num_threads(), native.info()["isa"]
    yield
    native.set_num_threads(n)
    native._use_isa(isa)


@pytest.fixture(params=native._isas())
def isa(request):
    """Every ISA path this CPU can run."""
    native._use_isa(request.param)
    return request.param


@pytest.fixture(params=[1, 2])
def threads(request):
    native.set_num_threads(request.param)
    return request.param


def rnd(rng, shape, dtype, scale=1.0):
    return np.asarray(rng.uniform(-scale, scale, size=shape), dtype=dtype)


def close(actual, expected, tol):
    """Same shape, dtype and values (NaN where the reference has NaN), a fresh array."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            close(a, e, tol)
        return
    assert isinstance(actual, np.ndarray) and type(actual) is np.ndarray
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual.shape, expected.shape,
                                                                               actual.dtype, expected.dtype)
    assert actual.flags.c_contiguous and actual.flags.owndata
    np.testing.assert_allclose(actual, expected, **tol)


#: a float32 / float64 sum of many terms is checked against the float64 sum, to within this times the sum of |terms|
SUM_EPS = {np.float32: 1e-5, np.float64: 1e-13}


def close_sum(actual, exact, abs_sum, dtype):
    """A summed result within SUM_EPS * sum|terms| of the float64 sum (reference sums differ in order, not quality)."""
    assert actual.shape == exact.shape and actual.dtype == dtype and actual.flags.owndata
    err = np.abs(actual.astype(np.float64) - exact)
    bound = SUM_EPS[dtype] * abs_sum + np.finfo(dtype).tiny
    assert (err <= bound).all(), f"max err {err.max():.3g}, bound there {bound.flat[np.argmax(err - bound)]:.3g}"
