"""Eager autograd: the HAL kernels called directly, no dispatcher round trip.

Each op is written once as a ``torch.autograd.Function`` (combined
``forward(ctx, ...)`` style) whose forward runs the HAL kernel and whose
backward formula and saved tensors are shared with the registered operators
(:mod:`halkit.torch.gradients`, handed :mod:`halkit.torch.tensor_ops` as the op
provider), so eager and compiled gradients are the same computation.

Linear has a shorter route still where the driver publishes C kernels (:func:`host_linear`: forward and
backward in C++, no Python per call); otherwise, and for the other ops, :func:`apply` runs such a Function
by one of two routes:

* **a C++ node** (when the torch device extension is built, ``python -m halkit.build``):
  the forward runs as plain Python on a :class:`Context`, and ``attach_backward``
  (cpp/torch_device/autograd_node.cpp) hooks a C++ autograd node onto the result
  that saves tensors as torch's own nodes do and calls the backward formula once.
  A Python Function's machinery (a Python context object, outputs wrapped in
  Python, two Python calls before the formula in backward) cost more than
  nn.Linear's whole forward at batch 1; this route is what makes HALLinear's
  forward+backward close to nn.Linear's. Compiled autograd
  (torch._dynamo.compiled_autograd, which halkit does not use) refuses this node.
* **the Function itself**, when the extension is not built or a functorch transform
  (torch.func.grad, vmap, ...) is active. Outside those transforms torch's C
  ``apply`` is entered directly: the Python prologue of ``Function.apply`` only
  matters under them, and measured about a fifth of nn.Linear's forward+backward.

Either way, a first derivative runs the kernels directly. When autograd records
the backward itself (``create_graph=True``, grad mode on inside backward), the
same formula runs on the registered operators instead, whose own derivatives
(:mod:`halkit.torch.ops`) make the second derivative correct — or a clear error
for the few ops that have none.

A forward run by the C++-node route must record nothing on the autograd tape
itself (it calls the HAL, not torch ops), and each Function's first
``TENSOR_INPUTS`` arguments are its tensors (each may be None): those get
gradient edges.
"""
from __future__ import annotations

import torch

from halkit.hal import registry

from . import gradients, tensor_ops

try:
    from .device._C import attach_backward as _attach_backward
except ImportError:  # the torch device extension is not built (or predates the node): the Function route
    _attach_backward = None
try:
    from .device._C import linear as _host_linear
except ImportError:  # not built, or built before the C++ linear: the routes above
    _host_linear = None


def _ops():
    return torch.ops.halkit if torch.is_grad_enabled() else tensor_ops


class Context:
    """The part of a Function's ``ctx`` that halkit's formulas use, for the C++-node route.

    setup_context stores attributes and calls :meth:`save_for_backward`; the node sets ``saved_tensors``
    (unpacked, version-checked) and ``needs_input_grad`` (one flag per tensor input) for backward.
    """

    to_save: tuple = ()

    def save_for_backward(self, *tensors):
        self.to_save = tensors


_c_apply = torch._C._FunctionBase.__dict__["apply"]
_functorch_active = torch._C._are_functorch_transforms_active
_unwrap_if_dead = torch._C._functorch.unwrap_if_dead


def apply(function, *args):
    """``function.apply(*args)``, by the C++-node route when it is available (see the module docstring)."""
    if _functorch_active():
        return function.apply(*args)  # torch's route, with its own message for these Functions
    if _attach_backward is None:
        # What Function.apply does before its C entry point that matters here: a tensor left over from a
        # finished functorch transform (a "dead wrapper") is unwrapped (attach_backward does it in C++).
        return _c_apply.__get__(None, function)(*[_unwrap_if_dead(a) if isinstance(a, torch.Tensor) else a
                                                  for a in args])
    ctx = Context()
    output = function.forward(ctx, *args)
    saved, ctx.to_save = ctx.to_save, ()  # held by the node only: a ctx keeping the output would be a cycle
    return _attach_backward(function.NODE_NAME, output, args[:function.TENSOR_INPUTS], saved, ctx,
                            function.backward)


def host_linear(x, weight, bias, activation):
    """relu?(x @ weight.T + bias) by HALLinear's C++ route, or None where it does not apply.

    The route (cpp/torch_device/eager_linear.cpp) runs when the active driver publishes its kernels as C
    functions (``Driver.host_kernels``): the forward and a C++ backward node call them on tensor memory, with
    no Python per call. It takes dense float32 tensors and no activation or relu; for anything else it returns
    None and the caller takes the routes below.
    """
    if _host_linear is None or activation not in (None, "relu") or _functorch_active():
        return None
    kernels = registry.active().host_kernels
    if kernels is None:
        return None
    return _host_linear(x, weight, bias, activation == "relu", kernels, linear_backward_recorded)


def linear_backward_recorded(x, weight, output, grad, relu, has_bias, needs_input_grad):
    """The C++ route's backward when autograd records it (``create_graph=True``): the formula on the
    registered operators, whose own derivatives give the second derivative."""
    ctx = Context()
    ctx.activation, ctx.has_bias = ("relu" if relu else None), has_bias
    ctx.saved_tensors, ctx.needs_input_grad = (x, weight, None, output), needs_input_grad
    return gradients.linear_backward(torch.ops.halkit, ctx, grad)[:3]


class LinearFunction(torch.autograd.Function):
    TENSOR_INPUTS, NODE_NAME = 3, "LinearFunctionBackward"

    @staticmethod
    def forward(ctx, x, weight, bias, activation):
        output = tensor_ops.linear(x, weight, bias, activation)
        gradients.linear_setup_context(ctx, (x, weight, bias, activation), output)
        return output

    @staticmethod
    def backward(ctx, grad):
        return gradients.linear_backward(_ops(), ctx, grad)


class LayerNormFunction(torch.autograd.Function):
    TENSOR_INPUTS, NODE_NAME = 3, "LayerNormFunctionBackward"

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        output = tensor_ops.layer_norm(x, weight, bias, eps)
        gradients.layer_norm_setup_context(ctx, (x, weight, bias, eps), output)
        return output

    @staticmethod
    def backward(ctx, grad):
        return gradients.layer_norm_backward(_ops(), ctx, grad)


class Conv2dFunction(torch.autograd.Function):
    TENSOR_INPUTS, NODE_NAME = 3, "Conv2dFunctionBackward"

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, activation):
        inputs = (x, weight, bias, stride, padding, dilation, groups, activation)
        output = tensor_ops.conv2d(*inputs)
        gradients.conv2d_setup_context(ctx, inputs, output)
        return output

    @staticmethod
    def backward(ctx, grad):
        return gradients.conv2d_backward(_ops(), ctx, grad)
