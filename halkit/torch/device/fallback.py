"""Ops the halkit device has no kernel for run on the CPU — counted per op, refused in strict mode.

Two routes arrive here: torch's boxed CPU fallback (C++, every aten op with no
halkit kernel at all) and halkit kernels that meet a case the HAL cannot
express (e.g. an integer dtype) and hand the call to :func:`run_on_host`.
Both count through ``halkit.hal``'s fallback ledger under device ``"halkit"``,
so ``halkit.hal.strict()`` / ``HALKIT_STRICT=1`` turn either into a
FallbackError naming the op.
"""
from __future__ import annotations

import torch
from torch.utils._pytree import tree_map_only

from halkit.hal import fallback as hal_fallback

from . import memory

DEVICE = "halkit"


def note(op_name: str) -> None:
    """Count one host fallback of ``op_name`` (raises FallbackError in strict mode)."""
    hal_fallback.note(DEVICE, op_name, "host")


def counts() -> dict[str, int]:
    """{aten op: calls that ran on the CPU} since start (or halkit.hal.reset_fallback_counts())."""
    return {op: n for (device, op, kind), n in hal_fallback.fallback_counts().items() if device == DEVICE}


def _to_cpu(t: torch.Tensor) -> torch.Tensor:
    return t.cpu() if t.device.type == memory.DEVICE_TYPE else t


def run_on_host(op: torch._ops.OpOverload, args, kwargs):
    """Run ``op`` on CPU copies of its halkit tensors; results come back to the device, and every argument
    the op writes (in-place, out=) gets the CPU result copied back into it."""
    note(op.name())
    device = next(t.device for t in _tensors(args, kwargs) if t.device.type == memory.DEVICE_TYPE)
    cpu_args, cpu_kwargs = tree_map_only(torch.Tensor, _to_cpu, (args, kwargs))
    result = op(*cpu_args, **cpu_kwargs)
    written = {}
    for i, argument in enumerate(op._schema.arguments):
        if argument.alias_info is None or not argument.alias_info.is_write:
            continue
        original = args[i] if i < len(args) and not argument.kwarg_only else kwargs.get(argument.name)
        computed = cpu_args[i] if i < len(args) and not argument.kwarg_only else cpu_kwargs.get(argument.name)
        if isinstance(original, torch.Tensor):
            original.copy_(computed)
            written[id(computed)] = original

    def back(t):
        original = written.get(id(t))
        return t.to(device) if original is None else original
    return tree_map_only(torch.Tensor, back, result)


def _tensors(args, kwargs):
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, torch.Tensor))
