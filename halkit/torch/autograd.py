"""Eager autograd Functions: the HAL kernels called directly, no dispatcher round trip.

They share their backward formulas with the registered operators
(:mod:`halkit.torch.gradients`), handing them :mod:`halkit.torch.kernels` as
the op provider, so eager and compiled gradients are the same computation.
"""
from __future__ import annotations

import torch

from . import gradients, kernels


class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(x, weight, bias, activation):
        return kernels.linear(x, weight, bias, activation)

    setup_context = staticmethod(gradients.linear_setup_context)

    @staticmethod
    def backward(ctx, grad):
        return gradients.linear_backward(kernels, ctx, grad)


class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(x, weight, bias, eps):
        return kernels.layer_norm(x, weight, bias, eps)

    setup_context = staticmethod(gradients.layer_norm_setup_context)

    @staticmethod
    def backward(ctx, grad):
        return gradients.layer_norm_backward(kernels, ctx, grad)


class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(x, weight, bias, stride, padding, dilation, groups, activation):
        return kernels.conv2d(x, weight, bias, stride, padding, dilation, groups, activation)

    setup_context = staticmethod(gradients.conv2d_setup_context)

    @staticmethod
    def backward(ctx, grad):
        return gradients.conv2d_backward(kernels, ctx, grad)
