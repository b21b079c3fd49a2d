"""HALMaxPool2d, HALAvgPool2d, HALAdaptiveAvgPool2d: drop-ins for the torch.nn pooling layers.

As the HAL layers of :mod:`halkit.torch.modules`, each subclasses the torch layer it replaces (constructor,
``repr``, ``isinstance`` are torch's) and changes only ``forward``, which runs the registered operator
``torch.ops.halkit.*`` (differentiable, traceable, dispatched to the ``halkit`` device for its tensors).
A pooling layer has no parameters: a pooled tensor keeps its dtype, so an input the HAL does not compute
in (bfloat16 from an autocast layer before it, an integer tensor) is pooled by torch's own forward, as
the torch layer would, rather than refused.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from .arrays import SUPPORTED_DTYPES

_halkit_ops = torch.ops.halkit


class _HALPool:
    """The forward the HAL pooling layers share: the HAL operator (``_hal_pool`` on NCHW input) for the inputs and
    configurations it computes, torch's own forward (the next class in the MRO) for the rest."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype not in SUPPORTED_DTYPES or not self.supports(self):
            return super().forward(x)
        if x.dim() == 3:  # unbatched CHW, as torch's layers take it
            return self._hal_pool(x.unsqueeze(0)).squeeze(0)
        return self._hal_pool(x)

    def _window(self) -> tuple[list, list, list]:
        """kernel_size, stride (the kernel size when None) and padding as pairs."""
        stride = self.stride if self.stride is not None else self.kernel_size
        return _pair(self.kernel_size), _pair(stride), _pair(self.padding)


class HALMaxPool2d(_HALPool, nn.MaxPool2d):
    """``nn.MaxPool2d`` computed by the HAL (NaN wins a window, as in torch); ``return_indices`` is not supported."""

    @staticmethod
    def supports(module: nn.MaxPool2d) -> bool:
        return not module.return_indices

    def _hal_pool(self, x):
        return _halkit_ops.max_pool2d(x, *self._window(), _pair(self.dilation), self.ceil_mode)

    @classmethod
    def from_torch(cls, module: nn.MaxPool2d) -> "HALMaxPool2d":
        return cls(module.kernel_size, module.stride, module.padding, module.dilation, module.return_indices,
                   module.ceil_mode)


class HALAvgPool2d(_HALPool, nn.AvgPool2d):
    """``nn.AvgPool2d`` computed by the HAL; a ``divisor_override`` is not supported."""

    @staticmethod
    def supports(module: nn.AvgPool2d) -> bool:
        return module.divisor_override is None

    def _hal_pool(self, x):
        return _halkit_ops.avg_pool2d(x, *self._window(), self.ceil_mode, self.count_include_pad)

    @classmethod
    def from_torch(cls, module: nn.AvgPool2d) -> "HALAvgPool2d":
        return cls(module.kernel_size, module.stride, module.padding, module.ceil_mode, module.count_include_pad,
                   module.divisor_override)


class HALAdaptiveAvgPool2d(_HALPool, nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` computed by the HAL (an output size of None keeps that input size)."""

    @staticmethod
    def supports(module: nn.AdaptiveAvgPool2d) -> bool:
        return True

    def _hal_pool(self, x):
        size = [x.shape[i + 2] if s is None else s for i, s in enumerate(_pair(self.output_size))]
        return _halkit_ops.adaptive_avg_pool2d(x, size)

    @classmethod
    def from_torch(cls, module: nn.AdaptiveAvgPool2d) -> "HALAdaptiveAvgPool2d":
        return cls(module.output_size)
