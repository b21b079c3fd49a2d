"""halkit — a research workbench bridging PyTorch to a custom accelerator through a HAL.

``halkit.hal`` is the op API (NumPy in, NumPy out, no torch); the torch
adapter (``HALLinear``, ``convert``...) is imported on first use so that
``import halkit`` stays cheap and torch-free code stays torch-free.
"""
from importlib import import_module

from . import hal
from ._buildtool import build

__version__ = "0.1.0"

# public name -> module that defines it; imported lazily by __getattr__.
_LAZY = {
    "HALLinear": "halkit.torch",
    "HALConv2d": "halkit.torch",
    "HALLayerNorm": "halkit.torch",
    "convert": "halkit.torch",
    "strict": "halkit.hal",  # halkit.strict(): a host fallback (HAL op or halkit-device torch op) raises
}
# subpackages reachable as attributes (halkit.runtime.compile(...)) without importing them by hand.
_SUBPACKAGES = {"bench", "device", "distributed", "remote", "runtime", "torch", "widgets"}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    elif name in _SUBPACKAGES:
        value = import_module(f"halkit.{name}")
    else:
        raise AttributeError(f"module 'halkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBPACKAGES)


__all__ = ["hal", "build", "__version__", *_LAZY]
