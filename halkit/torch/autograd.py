"""Eager autograd Functions: the HAL kernels called directly, no dispatcher round trip.

They share their backward formulas and what they save with the registered
operators (:mod:`halkit.torch.gradients`), handing the formulas
:mod:`halkit.torch.kernels` as the op provider, so eager and compiled
gradients are the same computation.

They are written in the combined ``forward(ctx, ...)`` style on purpose: a
Function with a separate ``setup_context`` goes through functorch's
``custom_function_call`` path on every ``apply``, which measured 3-5× slower
per call here (``python -m halkit.torch.overhead``).

Their backward passes run NumPy-level kernels, which autograd cannot see, so
they are marked once-differentiable: asking for a second derivative raises
instead of silently returning one that is wrong.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import gradients, kernels


class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, activation):
        output = kernels.linear(x, weight, bias, activation)
        gradients.linear_setup_context(ctx, (x, weight, bias, activation), output)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return gradients.linear_backward(kernels, ctx, grad)


class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        output = kernels.layer_norm(x, weight, bias, eps)
        gradients.layer_norm_setup_context(ctx, (x, weight, bias, eps), output)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return gradients.layer_norm_backward(kernels, ctx, grad)


class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, activation):
        inputs = (x, weight, bias, stride, padding, dilation, groups, activation)
        output = kernels.conv2d(*inputs)
        gradients.conv2d_setup_context(ctx, inputs, output)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return gradients.conv2d_backward(kernels, ctx, grad)
