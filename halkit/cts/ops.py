"""Conformance of every op × every declared dtype against the numpy reference, through the contract.

For each sample (see :mod:`halkit.cts.samples`) the inputs are copied in
with ``copy_in``, the outputs allocated by the caller, the op launched with
``launch`` (or its declared fallback, for an op missing from
``capabilities().ops``) and the results copied out. Every other sample puts
inputs and outputs at a non-zero byte offset behind a guard block: the
driver must honour offsets, must not write outside its outputs and must not
write its inputs.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import hal
from ..hal import empty, fallback, opset
from ..hal.dispatch import launch
from ..hal.errors import FallbackError
from . import samples, tolerance
from .suite import Check, NotApplicable, download, upload

GUARD = 7.25  # what the guard block in front of an offset output holds, before and after the launch


def op_checks(driver, thorough: bool = False) -> list[Check]:
    """One check per op × dtype the driver declares (ids ``ops.<op>.<dtype>``), per-op dtypes included."""
    caps = driver.capabilities()
    pairs = [(op, dtype) for op in opset.OPS for dtype in caps.dtypes]
    pairs += [(op, dtype) for op, names in caps.op_dtypes.items() if op in caps.ops for dtype in names]
    return [Check(f"ops.{op}.{dtype}", functools.partial(check_op, op=op, dtype=dtype),
                  f"{op} in {dtype} matches the numpy reference") for op, dtype in pairs]


def check_op(ctx, op: str, dtype: str) -> str:
    """Run every sample of ``op`` in ``dtype``; returns how the driver ran it (native, decomposed or host)."""
    driver, stream = ctx.driver, ctx.new_stream()
    routes = set()
    for i, geometry in enumerate(samples.cases(op, ctx.thorough)):
        inputs, params = samples.build(op, ctx.rng, dtype, **geometry)
        try:
            got, route = run_on_device(driver, op, inputs, params, stream, at_offset=bool(i % 2))
        except FallbackError as exc:
            raise NotApplicable(f"{op} is not on the device and strict mode forbids its host fallback") from exc
        routes.add(route)
        with np.errstate(all="ignore"):
            expected = getattr(hal.reference(), op)(*inputs, **opset.bind_params(opset.OPS[op], params))
        expected = expected if isinstance(expected, tuple) else (expected,)
        length = samples.reduction_length(op, inputs, params)
        for k, (g, e) in enumerate(zip(got, expected)):
            problem = tolerance.mismatch(op, g, e, length, inputs)
            if problem:
                raise AssertionError(f"{op} {dtype} geometry {geometry}{' (at an offset)' if i % 2 else ''}, "
                                     f"output {k}: {problem}")
    return "/".join(sorted(routes))


def run_on_device(driver, op, inputs, params, stream, at_offset=False):
    """``op`` on ``driver`` through copy_in / launch / copy_out; returns (host results, route)."""
    devices = upload(driver, inputs, stream, at_offset)
    specs, bound = opset.infer(op, devices, params)
    outputs, guards = [], []
    for spec in specs:
        if at_offset:
            base = empty((2, *spec.shape), spec.dtype, driver)
            driver.copy_in(base[0], np.full(spec.shape, GUARD, spec.dtype), stream)
            outputs.append(base[1])
            guards.append(base[0])
        else:
            outputs.append(empty(spec.shape, spec.dtype, driver))
    before = fallback.fallback_counts()
    launch(driver, op, outputs, devices, bound, stream)
    route = _route(driver.name, op, before)
    results = [download(driver, out, stream) for out in outputs]
    guard_values = [download(driver, g, stream) for g in guards]
    input_values = [download(driver, x, stream) for x in _flat(devices)]
    driver.synchronize(stream, timeout=120)
    for g in guard_values:
        if not (g == GUARD).all():
            raise AssertionError(f"{op} wrote outside its output: the bytes in front of an output at an offset "
                                 "changed")
    for host, after in zip(_flat(inputs), input_values):
        if not np.array_equal(host, after, equal_nan=True):
            raise AssertionError(f"{op} changed one of its inputs (launch may only write its outputs)")
    return results, route


def _route(device, op, before) -> str:
    after = fallback.fallback_counts()
    for kind in ("host", "decomposed"):
        if after.get((device, op, kind), 0) > before.get((device, op, kind), 0):
            return kind
    return "native"


def _flat(values) -> list:
    """The arrays among op inputs (a variadic op's list spread out, absent optionals dropped)."""
    return [x for v in values for x in (v if isinstance(v, list) else [v]) if x is not None]
