"""The callables a HAL partition's nodes run: ``torch.ops.halkit.*`` plus the runtime's fused kernels.

Lowered nodes call the torch team's operators (halkit.torch), so a partition
stays an ordinary, printable, traceable ``torch.fx`` graph. When the scheduler
installs a partition it binds each operator to its kernel
(``halkit.torch.kernels``, same signature): the graph is already
differentiated, so the operator's dispatcher and autograd layers are pure
overhead at run time. The one kernel defined here has no operator there:
``elementwise_chain`` (several element-wise HAL ops run as one step, the
result of the element-wise fusion pass).
"""
from __future__ import annotations

import torch

import halkit.torch  # noqa: F401  (registers torch.ops.halkit.*)
from halkit import hal
from halkit.torch import kernels as torch_kernels
from halkit.torch.arrays import dense, tensor


# Element-wise HAL ops an elementwise chain may contain, by name (the chain stores names, not functions).
ELEMENTWISE = {"relu": hal.relu, "gelu": hal.gelu, "add": hal.add, "mul": hal.mul, "add_bias": hal.add_bias}


def elementwise_chain(program, *inputs):
    """Run a fused chain of element-wise HAL ops as one step; intermediates never become tensors.

    program is a tuple of (op name, argument refs); a ref ("in", i) is inputs[i], ("tmp", j) the
    result of step j. The last step's result is returned.
    """
    arrays = [dense(f"inputs[{i}]", t) for i, t in enumerate(inputs)]
    results = []
    for op, refs in program:
        results.append(ELEMENTWISE[op](*(arrays[i] if kind == "in" else results[i] for kind, i in refs)))
    return tensor(results[-1])


_RUNTIME = {"elementwise_chain": elementwise_chain}

#: HAL ops (kernel names) the lowering may emit.
NAMES = ("linear", "matmul", "conv2d", "relu", "gelu", "softmax", "layer_norm", "add", "mul",
         "relu_backward", "gelu_backward", "sum_rows", "conv2d_input_grad", "conv2d_weight_grad",
         "add_bias", "elementwise_chain")


def target(name: str):
    """The callable a node running HAL op ``name`` calls."""
    return _RUNTIME[name] if name in _RUNTIME else getattr(torch.ops.halkit, name).default


def implementation(name: str):
    """The plain function behind HAL op ``name``: what an installed partition calls."""
    return _RUNTIME[name] if name in _RUNTIME else getattr(torch_kernels, name)


_NAME_OF = {fn(name): name for name in NAMES for fn in (target, implementation)}


def name_of(fn) -> str | None:
    """The HAL op name of a node target (operator or implementation), or None for other targets."""
    try:
        return _NAME_OF.get(fn)
    except TypeError:  # unhashable targets
        return None
