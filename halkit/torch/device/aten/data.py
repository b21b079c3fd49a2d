"""Copies, fills and concatenation: moving and setting data without arithmetic."""
from __future__ import annotations

from .. import copies, memory
from ..registry import Unsupported, kernel
from .common import Plan, computable, new, scalar, write


@kernel("_copy_from", one_device=False)
def copy_from(self, dst, non_blocking=False):
    return copies.copy_from(self, dst, non_blocking)


@kernel("_copy_from_and_resize", one_device=False)
def copy_from_and_resize(self, dst):
    return copies.copy_from_and_resize(self, dst)


@kernel("_local_scalar_dense")
def local_scalar_dense(self):
    return copies.local_scalar_dense(self)


@kernel("fill_.Scalar", "fill_.Tensor")
def fill_(self, value):
    computable(self)
    value = scalar(value)
    if value is None:  # a halkit 0-dim tensor: its value is on the device
        raise Unsupported("fill with a device tensor")
    return write(self, Plan("fill", [], dict(shape=tuple(self.shape), dtype=memory.numpy_dtype(self.dtype).name,
                                             value=float(value))))


@kernel("zero_")
def zero_(self):
    return fill_(self, 0.0)


@kernel("cat", "cat.out")
def cat(tensors, dim=0, *, out=None):
    tensors = [t for t in tensors if not (t.dim() == 1 and t.numel() == 0)]  # torch skips legacy empty 1-D inputs
    if not tensors:
        raise Unsupported("only empty inputs")
    computable(*tensors)
    plan = Plan("cat", [[memory.as_array(t) for t in tensors]], dict(axis=dim % tensors[0].dim()))
    if out is None:
        return new(plan)
    out.resize_(_cat_shape(tensors, plan.params["axis"]))
    return write(out, plan)


def _cat_shape(tensors, axis):
    shape = list(tensors[0].shape)
    shape[axis] = sum(t.shape[axis] for t in tensors)
    return shape
