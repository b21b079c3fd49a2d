"""What every kernel module uses: tensors in as DeviceArrays, HAL ops run, results out as tensors.

Most kernels are written as a *plan*: a function of the op's arguments that
returns ``Plan(hal_op, inputs, params, shape)`` — the one HAL launch that
produces the result (after any intermediate launches it needed).
:func:`family` turns one plan into the functional, in-place and out= kernels
of an aten op, so each variant writes where torch expects: a new tensor, into
``self``, or into the caller's ``out`` (one launch into its memory).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from halkit.hal import dispatch, opset
from halkit.hal.streams import current_stream_handle

from .. import copies, memory
from ..registry import Unsupported, kernel


class Plan(NamedTuple):
    op: str
    inputs: list
    params: dict
    shape: tuple | None = None  # the result's shape when it differs from the op's output (a reshape); None: as is


def computable(*tensors: torch.Tensor) -> torch.dtype:
    """The HAL computes in float32/float64, one dtype per op: anything else goes to the host."""
    dtype = tensors[0].dtype
    for t in tensors:
        if t.dtype != dtype or dtype not in memory.COMPUTE_DTYPES:
            raise Unsupported(f"dtype {t.dtype}")
    return dtype


def scalar(value) -> float | None:
    """A Python number for a Python scalar or a CPU 0-dim tensor (a wrapped scalar); None for a tensor operand."""
    if isinstance(value, torch.Tensor):
        if value.dim() == 0 and value.device.type == "cpu":
            return value.item()
        return None
    return float(value)


def run(op: str, inputs, driver=None, **params):
    """HAL op ``op`` where its DeviceArrays live (or on ``driver`` for factories); its output DeviceArray(s)."""
    driver = driver or next(x.driver for x in opset.flat(inputs))
    outputs = dispatch.on_device(driver, op, inputs, params)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def new(plan: Plan) -> torch.Tensor:
    """The plan's result as a new halkit tensor."""
    return memory.as_tensor(run(plan.op, plan.inputs, **plan.params), plan.shape)


def write(out: torch.Tensor, plan: Plan) -> torch.Tensor:
    """The plan's launch writing straight into ``out`` (caller-allocated, as for torch's out= and in-place
    ops): into out's memory when out is contiguous, else into a temporary copied into out's layout."""
    specs, params = opset.infer(plan.op, plan.inputs, plan.params)
    (spec,) = specs
    if spec.dtype != memory.numpy_dtype(out.dtype):
        raise Unsupported(f"out dtype {out.dtype}")
    if math.prod(spec.shape) != out.numel():
        raise ValueError(f"{plan.op}: result is {spec.shape} but out is {tuple(out.shape)}")
    driver = next(opset.flat(plan.inputs), None)
    driver = driver.driver if driver is not None else memory.driver_of(out)
    if out.is_contiguous() and memory.owner(out) is not None:
        target = memory.view_of(out).reshape(spec.shape)
        dispatch.launch(driver, plan.op, [target], plan.inputs, params, current_stream_handle(driver))
    elif out.numel():
        result = memory.as_tensor(dispatch.on_device(driver, plan.op, plan.inputs, params)[0], out.shape)
        copies.device_to_device(result, out)
    return out


def filled(like, value: float):
    """A new DeviceArray shaped and typed like DeviceArray ``like``, every element ``value``."""
    return run("fill", [], like.driver, shape=like.shape, dtype=like.dtype.name, value=float(value))


def operand(x, shape, dtype: torch.dtype, driver):
    """x (a halkit tensor, or a scalar) as a dense DeviceArray of ``shape``: broadcasts are materialised on
    the device (copy_strided with stride 0), scalars filled in."""
    value = scalar(x) if not isinstance(x, torch.Tensor) or x.device.type == "cpu" else None
    if value is not None:
        return run("fill", [], driver, shape=tuple(shape), dtype=memory.numpy_dtype(dtype).name, value=value)
    return memory.as_array(x if tuple(x.shape) == tuple(shape) else x.expand(shape))


def operands(*values):
    """Several operands broadcast to one shape: (DeviceArrays, shape). At least one must be a halkit tensor."""
    tensors = [v for v in values if isinstance(v, torch.Tensor) and v.device.type == memory.DEVICE_TYPE]
    dtype = computable(*tensors)
    shape = tuple(torch.broadcast_shapes(*(v.shape for v in values if isinstance(v, torch.Tensor))))
    driver = memory.driver_of(tensors[0])
    return [operand(v, shape, dtype, driver) for v in values], shape


def result_shape(plan: Plan) -> tuple:
    if plan.shape is not None:
        return tuple(plan.shape)
    return tuple(opset.infer(plan.op, plan.inputs, plan.params)[0][0].shape)


def family(plan, functional=(), inplace=(), out=(), out_name: str = "out"):
    """Register ``plan`` as the functional, in-place and out= kernels of the named aten overloads."""
    if functional:
        kernel(*functional)(lambda *args, **kwargs: new(plan(*args, **kwargs)))

    def into_self(self, *args, **kwargs):
        p = plan(self, *args, **kwargs)
        shape = result_shape(p)
        if shape != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(shape)}")
        return write(self, p)

    def into_out(*args, **kwargs):
        target = kwargs.pop(out_name)
        p = plan(*args, **kwargs)
        shape = result_shape(p)
        if tuple(target.shape) != shape:
            target.resize_(shape)
        return write(target, p)

    if inplace:
        kernel(*inplace)(into_self)
    if out:
        kernel(*out)(into_out)
