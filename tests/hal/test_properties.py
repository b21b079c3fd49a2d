"""Property-based tests (hypothesis): every op on every backend against the numpy reference and torch,
over random shapes, dtypes, values (NaN/±inf included) and conv/pool geometries; and the op API's handling
of non-contiguous input (an F-ordered GEMM operand is its transpose, anything else is refused clearly).

`backend` runs over every backend that loads (tests/conftest.py). Few examples per test by default (CI); ``pytest --hypothesis-profile=thorough tests/hal/test_properties.py``
runs hundreds (profiles: tests/conftest.py).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import halkit.hal as hal
from halkit.cts import samples, tolerance
from halkit.hal import opset

from .geometries import GEOMETRY, float_arrays, shapes
from .torch_twins import NO_TWIN, judge

DTYPES = st.sampled_from(["float32", "float64"])


def results(out):
    return out if isinstance(out, tuple) else (out,)


def matches_reference(op, got, expected, inputs, params):
    length = samples.reduction_length(op, inputs, params)
    for g, e in zip(got, expected):
        assert type(g) is np.ndarray and g.shape == e.shape and g.dtype == e.dtype, (type(g), g.shape, e.shape)
        problem = tolerance.mismatch(op, g, e, length, inputs)
        assert problem is None, f"{op} vs the numpy reference: {problem}"


@pytest.mark.parametrize("op", sorted(opset.OPS))
@given(data=st.data(), dtype=DTYPES, seed=st.integers(0, 2**32 - 1))
def test_op_matches_reference_and_torch(backend, op, data, dtype, seed):
    geometry = data.draw(GEOMETRY[op], label="geometry")
    inputs, params = samples.build(op, np.random.default_rng(seed), dtype, **geometry)
    params = opset.bind_params(opset.OPS[op], params)
    with np.errstate(all="ignore"):
        got = results(getattr(hal.get_backend(backend), op)(*inputs, **params))
        expected = results(getattr(hal.reference(), op)(*inputs, **params))
    matches_reference(op, got, expected, inputs, params)
    if op not in NO_TWIN:
        problem = judge(op, got, inputs, params)
        assert problem is None, f"{op}: {problem}"


@pytest.mark.parametrize("op", samples.ELEMENTWISE)
@given(data=st.data(), dtype=DTYPES)
def test_elementwise_on_any_float_values(backend, op, data, dtype):
    """NaN, ±inf, ±0, subnormals, huge values: the reference's answer, and torch's (see torch_twins.judge)."""
    shape = data.draw(shapes(max_dims=2), label="shape")
    arity = len(opset.OPS[op].inputs)
    inputs = [data.draw(float_arrays(dtype, shape), label=name) for name in opset.OPS[op].input_names[:arity]]
    params = opset.bind_params(opset.OPS[op], dict(alpha=-1.5, beta=0.25) if op == "scale" else {})
    with np.errstate(all="ignore"):
        got = results(getattr(hal.get_backend(backend), op)(*inputs, **params))
        expected = results(getattr(hal.reference(), op)(*inputs, **params))
    matches_reference(op, got, expected, inputs, params)
    problem = judge(op, got, inputs, params)
    assert problem is None, f"{op}: {problem}"


@st.composite
def gemm_operand(draw, rows, cols, dtype):
    """A rows×cols matrix laid out either way: C-ordered, or the transpose of a C-ordered cols×rows one."""
    values = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).uniform(-1, 1, (rows, cols)).astype(dtype)
    return np.ascontiguousarray(values.T).T if draw(st.booleans()) else values


@given(data=st.data(), dtype=DTYPES, m=st.integers(1, 9), k=st.integers(1, 9), n=st.integers(1, 9),
       trans_a=st.booleans(), trans_b=st.booleans())
def test_f_ordered_gemm_operands_are_taken_as_transposes(backend, data, dtype, m, k, n, trans_a, trans_b):
    a = data.draw(gemm_operand(k if trans_a else m, m if trans_a else k, dtype), label="a")
    b = data.draw(gemm_operand(n if trans_b else k, k if trans_b else n, dtype), label="b")
    with hal.use(backend):
        got = hal.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
        linear = hal.linear(np.ascontiguousarray(a if not trans_a else a.T), b.T if not trans_b else b)
    expected = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    for result in (got, linear):
        assert tolerance.mismatch("gemm", result, expected.astype(dtype), k) is None


NON_CONTIGUOUS_CALLS = {
    "relu": lambda x: hal.relu(x), "add": lambda x: hal.add(x, np.ascontiguousarray(x)),
    "softmax": lambda x: hal.softmax(x), "layer_norm": lambda x: hal.layer_norm(x), "sum": lambda x: hal.sum(x),
    "linear": lambda x: hal.linear(x, np.ones((3, x.shape[-1]), x.dtype)),
    "matmul": lambda x: hal.matmul(x, np.ones((x.shape[-1], 2), x.dtype)),
    "add_bias": lambda x: hal.add_bias(x, np.ones(x.shape[-1], x.dtype)),
}


@pytest.mark.parametrize("call", sorted(NON_CONTIGUOUS_CALLS))
@given(dtype=DTYPES, rows=st.integers(2, 6), cols=st.integers(2, 6), step=st.integers(2, 3))
def test_other_non_contiguous_input_is_refused_clearly(backend, call, dtype, rows, cols, step):
    """A strided view (every other column) that is neither C- nor F-contiguous: a ValueError that names the
    argument and the fix, on every backend — never a silently wrong result."""
    x = np.random.default_rng(0).uniform(-1, 1, (rows, cols * step)).astype(dtype)[:, ::step]
    assert not x.flags.c_contiguous and not x.flags.f_contiguous
    with hal.use(backend), pytest.raises(ValueError, match=r"^(x|a) is not (C-)?contiguous.*np\.ascontiguousarray\((x|a)\)"):
        NON_CONTIGUOUS_CALLS[call](x)
