"""The halkit kernels of aten ops, one module per family; importing this package registers them all."""
from . import data, elementwise, halkit_ops, linalg, nn, random, reductions  # noqa: F401
