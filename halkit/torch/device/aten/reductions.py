"""sum and mean over any axes (keepdim, dtype=) — one HAL reduction each."""
from __future__ import annotations

from .. import memory
from ..registry import Unsupported
from .common import Plan, computable, family, run


def _reduce_plan(op: str):
    def plan(self, dim=None, keepdim=False, dtype=None):
        computable(self)
        x = memory.as_array(self)
        if dtype is not None and dtype != self.dtype:
            if dtype not in memory.COMPUTE_DTYPES:
                raise Unsupported(f"dtype={dtype}")
            x = run("cast", [x], dtype=memory.numpy_dtype(dtype).name)  # reduce in the dtype asked for
        # no dims, or any dim of a 0-D tensor (torch accepts 0 and -1 there): reduce everything
        axes = None if dim is None or len(dim) == 0 or self.dim() == 0 else tuple(d % self.dim() for d in dim)
        return Plan(op, [x], dict(axes=axes, keepdims=bool(keepdim)))
    return plan


family(_reduce_plan("sum"), ["sum.dim_IntList", "sum"], out=["sum.IntList_out"])
family(_reduce_plan("mean"), ["mean.dim", "mean"], out=["mean.out"])
