"""Layout ops inside a partition: strided views of device arrays, made dense only when a kernel needs it.

A HAL array (a NumPy array on a host driver, a DeviceArray on any driver) is
dense and C-ordered. A partition's layout ops (view, transpose, permute,
select, slice, expand, ...) become :class:`View` objects — a shape, strides
and an offset in elements over a dense base array, exactly as torch's views
are over a storage — and cost nothing. A kernel that needs a dense operand
calls :func:`dense`: when the view's elements are already in order it is a
reshape or a sub-array of the base (no copy), else one ``hal.as_strided``
copy on the array's own device. GEMM operands may also be read transposed
through the GEMM's flags (:func:`gemm_operand`), as autograd's ``w.t()`` is.

Values in a compiled graph are never written in place (aot_autograd
functionalizes), so ``clone`` and ``contiguous`` need no copy of a dense array.
"""
from __future__ import annotations

import math

from halkit import hal


def dense_strides(shape) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return tuple(reversed(strides))


def _is_contiguous(shape, strides) -> bool:
    step = 1
    for d, s in zip(reversed(shape), reversed(strides)):
        if d != 1 and s != step:
            return False
        step *= d
    return True


class View:
    """``shape``/``strides``/``offset`` (elements) over the flat elements of the dense array ``base``."""

    __slots__ = ("base", "shape", "strides", "offset")

    def __init__(self, base, shape, strides, offset):
        self.base, self.shape, self.strides, self.offset = base, tuple(shape), tuple(strides), int(offset)

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"View(shape={self.shape}, strides={self.strides}, offset={self.offset}, base={self.base!r})"


def _parts(v):
    """(base, shape, strides, offset) of a dense array or a View."""
    if type(v) is View:
        return v.base, v.shape, v.strides, v.offset
    return v, tuple(v.shape), dense_strides(v.shape), 0


def _make(base, shape, strides, offset):
    """The cheapest value for this view: the base itself (reshaped) when it covers it in order, else a View."""
    shape = tuple(int(d) for d in shape)
    if offset == 0 and math.prod(shape) == base.size and _is_contiguous(shape, strides):
        return base if tuple(base.shape) == shape else base.reshape(shape)
    return View(base, shape, strides, offset)


def dense(v):
    """A dense array holding v's elements: v itself, a reshape or sub-array of its base, or one device copy."""
    if type(v) is not View:
        return v
    base, shape, strides, offset = v.base, v.shape, v.strides, v.offset
    n = math.prod(shape)
    if _is_contiguous(shape, strides) and n:
        if offset == 0 and n == base.size:
            return base.reshape(shape)
        if offset % n == 0 and base.size % n == 0:  # the (offset/n)-th block of n elements: an a[i] view
            return base.reshape(base.size // n, n)[offset // n].reshape(shape)
    return hal.as_strided(base, shape, [s if d != 1 else 0 for d, s in zip(shape, strides)], offset) if n else \
        hal.as_strided(base, shape, [0] * len(shape), 0)


def copy(v):
    """A new dense array with v's elements (one ``as_strided`` launch on v's device)."""
    base, shape, strides, offset = _parts(v)
    return hal.as_strided(base, shape, strides, offset)


def optional_dense(v):
    return None if v is None else dense(v)


def gemm_operand(v):
    """(dense array, transposed?) for a GEMM operand: a view that is the transpose of the last two axes of a dense
    array is read in place through the GEMM's transpose flag."""
    if type(v) is View and v.ndim >= 2:
        shape, strides = list(v.shape), list(v.strides)
        shape[-1], shape[-2] = shape[-2], shape[-1]
        strides[-1], strides[-2] = strides[-2], strides[-1]
        if v.offset == 0 and math.prod(shape) == v.base.size and _is_contiguous(shape, strides) and \
                v.shape[-1] != 1 and v.shape[-2] != 1:
            return v.base.reshape(shape), True
    return dense(v), False


# --- the layout ops (aten semantics) ----------------------------------------------------------------------

def _dim(d, ndim):
    return d % ndim if ndim else 0


def reshape(v, shape):
    base, old, strides, offset = _parts(v)
    shape = list(shape)
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        shape[shape.index(-1)] = math.prod(old) // known if known else 0
    if _is_contiguous(old, strides):
        return _make(base, shape, dense_strides(shape), offset)
    return dense(v).reshape(shape)


def permute(v, dims):
    base, shape, strides, offset = _parts(v)
    dims = [_dim(d, len(shape)) for d in dims]
    return _make(base, [shape[d] for d in dims], [strides[d] for d in dims], offset)


def transpose(v, d0, d1):
    order = list(range(v.ndim))
    d0, d1 = _dim(d0, v.ndim), _dim(d1, v.ndim)
    order[d0], order[d1] = order[d1], order[d0]
    return permute(v, order)


def t(v):
    return permute(v, [1, 0]) if v.ndim == 2 else v


def unsqueeze(v, d):
    base, shape, strides, offset = _parts(v)
    d = d % (len(shape) + 1)
    inner = strides[d] * shape[d] if d < len(shape) else 1
    return _make(base, shape[:d] + (1,) + shape[d:], strides[:d] + (inner,) + strides[d:], offset)


def squeeze(v, dims=None):
    base, shape, strides, offset = _parts(v)
    if dims is None:
        dims = range(len(shape))
    dims = {_dim(d, len(shape)) for d in ((dims,) if isinstance(dims, int) else dims)}
    keep = [i for i in range(len(shape)) if not (i in dims and shape[i] == 1)]
    return _make(base, [shape[i] for i in keep], [strides[i] for i in keep], offset)


def select(v, d, index):
    base, shape, strides, offset = _parts(v)
    d = _dim(d, len(shape))
    index = index + shape[d] if index < 0 else index
    return _make(base, shape[:d] + shape[d + 1:], strides[:d] + strides[d + 1:], offset + index * strides[d])


def slice_(v, d=0, start=None, end=None, step=1):
    base, shape, strides, offset = _parts(v)
    d = _dim(d, len(shape))
    picked = range(shape[d])[slice(start, end, step)]
    first = picked.start if len(picked) else 0
    return _make(base, shape[:d] + (len(picked),) + shape[d + 1:], strides[:d] + (strides[d] * step,) + strides[d + 1:],
                 offset + first * strides[d])


def expand(v, sizes):
    base, shape, strides, offset = _parts(v)
    lead = len(sizes) - len(shape)
    new_shape, new_strides = [], []
    for i, size in enumerate(sizes):
        if i < lead:
            new_shape.append(size)
            new_strides.append(0)
            continue
        old = shape[i - lead]
        size = old if size == -1 else size
        new_shape.append(size)
        new_strides.append(strides[i - lead] if old == size else 0)
    return _make(base, new_shape, new_strides, offset)


def identity(v, *args, **kwargs):
    """detach, alias, clone, contiguous: the same elements (values are never written in place)."""
    return v


def size(v, d):
    return v.shape[d]
