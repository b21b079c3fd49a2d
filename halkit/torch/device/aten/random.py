"""Random numbers on the device: the HAL's counter-based ops keyed by the halkit generator's (seed, offset).

Each draw takes the generator's seed and current offset and advances the
offset past the Philox counters it may use, so consecutive draws never
overlap and a re-seeded generator repeats them exactly, on any driver.
"""
from __future__ import annotations

from .. import _C, memory
from ..registry import kernel
from .common import Plan, computable, write


def _counters(generator, count: int) -> tuple[int, int]:
    """(seed, offset) for a draw of ``count`` numbers, advancing the generator past it."""
    generator = generator if generator is not None else _C.default_generator()
    offset = generator.get_offset()
    # A Philox counter yields four 64-bit words; one word per sample plus rejections stays far below `count` blocks.
    generator.set_offset(offset + max(count, 1))
    return generator.initial_seed(), offset


def _draw(self, op: str, generator, **params):
    """Fill ``self`` with HAL random op ``op`` at the generator's next counters."""
    computable(self)
    seed, offset = _counters(generator, self.numel())
    return write(self, Plan(op, [], dict(shape=tuple(self.shape), dtype=memory.numpy_dtype(self.dtype).name,
                                         seed=seed, offset=offset, **params)))


@kernel("normal_")
def normal_(self, mean=0.0, std=1.0, *, generator=None):
    return _draw(self, "random_normal", generator, mean=float(mean), std=float(std))


@kernel("uniform_")
def uniform_(self, from_=0.0, to=1.0, *, generator=None):
    return _draw(self, "random_uniform", generator, low=float(from_), high=float(to))
