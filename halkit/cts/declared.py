"""Conformance of what a driver declares: its Capabilities are well-formed and name only real features."""
from __future__ import annotations

import numpy as np

from ..hal import opset
from ..hal.cost import DeviceSpec
from ..hal.driver import Capabilities
from .suite import check


@check("capabilities")
def capabilities(ctx):
    """capabilities() is a stable Capabilities: ops from the op set, float32/float64 dtypes (bfloat16 GEMMs and
    casts as per-op extras), a positive memory
    size, a DeviceSpec, a link exactly when memory is not host memory, and `unsupported` entries that name
    conformance features (or groups of them) with a reason each."""
    from .runner import feature_ids  # the runner knows every check, this module is one of them

    driver, caps = ctx.driver, ctx.caps
    if not isinstance(driver.name, str) or not driver.name:
        raise AssertionError(f"driver.name must be a non-empty str, got {driver.name!r}")
    if not isinstance(caps, Capabilities):
        raise AssertionError(f"capabilities() returned {type(caps).__name__}, not halkit.hal.Capabilities")
    if driver.capabilities() != caps:
        raise AssertionError("capabilities() changed between two calls")
    if not caps.ops <= opset.OPS.keys():
        raise AssertionError(f"capabilities().ops names ops outside the op set: {sorted(caps.ops - opset.OPS.keys())}")
    if not caps.dtypes or not set(caps.dtypes) <= {"float32", "float64"}:
        raise AssertionError(f"capabilities().dtypes must be non-empty float32/float64, got {caps.dtypes}")
    for op, names in caps.op_dtypes.items():  # per-op extras: bfloat16 GEMMs and casts
        if op not in caps.ops or not set(names) <= {d.name for d in opset.GEMM_DTYPES
                                                    if op in ("gemm", "cast", "copy_strided")}:
            raise AssertionError(f"capabilities().op_dtypes[{op!r}] = {names}: only gemm, cast and copy_strided, "
                                 "run by the device, may add bfloat16")
    if not isinstance(caps.memory_bytes, (int, np.integer)) or caps.memory_bytes <= 0:
        raise AssertionError(f"capabilities().memory_bytes must be a positive int, got {caps.memory_bytes!r}")
    if not isinstance(caps.cost, DeviceSpec):
        raise AssertionError(f"capabilities().cost must be a DeviceSpec, got {type(caps.cost).__name__}")
    if (caps.link is None) != caps.host_memory:
        raise AssertionError(f"link is {caps.link} but host_memory is {caps.host_memory}")
    if caps.link is not None and not (caps.link.h2d_bandwidth > 0 and caps.link.d2h_bandwidth > 0
                                      and caps.link.latency >= 0):
        raise AssertionError(f"the link must have positive bandwidths and a latency >= 0, got {caps.link}")
    known = feature_ids(driver)
    for feature, reason in caps.unsupported.items():
        if not any(f == feature or f.startswith(feature + ".") for f in known):
            raise AssertionError(f"unsupported lists {feature!r}, which is no conformance feature (known: "
                                 f"{', '.join(sorted({f.split('.')[0] for f in known}))}, ...)")
        if not isinstance(reason, str) or not reason.strip():
            raise AssertionError(f"unsupported[{feature!r}] must give a reason, got {reason!r}")
