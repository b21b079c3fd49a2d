"""Conformance of the declared fallbacks: an op missing from capabilities().ops runs through a
decomposition (kept on the device) or a counted host fallback, and strict mode refuses the latter."""
from __future__ import annotations

from .. import hal
from ..hal import decompositions, fallback, opset
from ..hal.dispatch import on_device
from ..hal.errors import FallbackError
from . import samples
from .suite import NotApplicable, check, expect_error


def _missing(ctx) -> list[str]:
    missing = sorted(set(opset.OPS) - ctx.caps.ops)
    if not missing:
        raise NotApplicable("the driver declares every op of the op set: nothing falls back")
    return missing


def _sample(ctx, op):
    geometry = next(g for g in samples.cases(op) if not g.get("special") and g.get("shape", (1,)) != ())
    return samples.build(op, ctx.rng, ctx.caps.dtypes[0], **geometry)


@check("fallback.declared")
def declared(ctx):
    """Every op the driver lacks runs anyway: through a decomposition when the device has its parts, else
    through a host fallback; each is counted in hal.fallback_counts() under its kind."""
    for op in _missing(ctx):
        inputs, params = _sample(ctx, op)
        kind = "host" if decompositions.for_device(op, ctx.driver) is None else "decomposed"
        key = (ctx.driver.name, op, kind)
        before = fallback.fallback_counts().get(key, 0)
        on_device(ctx.driver, op, inputs, opset.bind_params(opset.OPS[op], params))
        if fallback.fallback_counts().get(key, 0) != before + 1:
            raise AssertionError(f"{op} is not declared but its {kind} fallback was not counted once "
                                 f"(hal.fallback_counts()[{key}])")


@check("fallback.strict")
def strict(ctx):
    """Under hal.strict() an op that would run on the host raises FallbackError naming it; a decomposed op
    (still on the device) runs."""
    for op in _missing(ctx):
        inputs, params = _sample(ctx, op)
        params = opset.bind_params(opset.OPS[op], params)
        with hal.strict():
            if decompositions.for_device(op, ctx.driver) is None:
                expect_error(FallbackError, lambda: on_device(ctx.driver, op, inputs, params),
                             f"{op} (host fallback) under strict mode", must_mention=op)
            else:
                on_device(ctx.driver, op, inputs, params)
