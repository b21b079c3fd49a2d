"""Eager autograd Functions: the HAL kernels called directly, no dispatcher round trip.

They share their backward formulas and what they save with the registered
operators (:mod:`halkit.torch.gradients`), handing the formulas
:mod:`halkit.torch.kernels` as the op provider, so eager and compiled
gradients are the same computation.

They are written in the combined ``forward(ctx, ...)`` style on purpose: a
Function with a separate ``setup_context`` goes through functorch's
``custom_function_call`` path on every ``apply``, which measured 3-5× slower
per call.

A first derivative runs the kernels directly. When autograd records the
backward itself (``create_graph=True``, grad mode on inside backward), the same
formula runs on the registered operators instead, whose own derivatives
(:mod:`halkit.torch.ops`) make the second derivative correct — or a clear error
for the few ops that have none.
"""
from __future__ import annotations

import torch

from . import gradients, kernels


def _ops():
    return torch.ops.halkit if torch.is_grad_enabled() else kernels


class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, activation):
        output = kernels.linear(x, weight, bias, activation)
        gradients.linear_setup_context(ctx, (x, weight, bias, activation), output)
        return output

    @staticmethod
    def backward(ctx, grad):
        return gradients.linear_backward(_ops(), ctx, grad)


class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        output = kernels.layer_norm(x, weight, bias, eps)
        gradients.layer_norm_setup_context(ctx, (x, weight, bias, eps), output)
        return output

    @staticmethod
    def backward(ctx, grad):
        return gradients.layer_norm_backward(_ops(), ctx, grad)


class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, activation):
        inputs = (x, weight, bias, stride, padding, dilation, groups, activation)
        output = kernels.conv2d(*inputs)
        gradients.conv2d_setup_context(ctx, inputs, output)
        return output

    @staticmethod
    def backward(ctx, grad):
        return gradients.conv2d_backward(_ops(), ctx, grad)
