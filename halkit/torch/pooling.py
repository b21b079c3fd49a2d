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


def _batched(pool, x: torch.Tensor) -> torch.Tensor:
    """pool(x) for NCHW x, or for unbatched CHW x as torch's layers take it."""
    if x.dim() == 3:
        return pool(x.unsqueeze(0)).squeeze(0)
    return pool(x)


class HALMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` computed by the HAL (NaN wins a window, as in torch); ``return_indices`` is not supported."""

    @staticmethod
    def supports(module: nn.MaxPool2d) -> bool:
        return not module.return_indices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype not in SUPPORTED_DTYPES or self.return_indices:
            return super().forward(x)
        stride = self.stride if self.stride is not None else self.kernel_size
        return _batched(lambda x: _halkit_ops.max_pool2d(x, _pair(self.kernel_size), _pair(stride),
                                                        _pair(self.padding), _pair(self.dilation), self.ceil_mode), x)

    @classmethod
    def from_torch(cls, module: nn.MaxPool2d) -> "HALMaxPool2d":
        return cls(module.kernel_size, module.stride, module.padding, module.dilation, module.return_indices,
                   module.ceil_mode)


class HALAvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` computed by the HAL; a ``divisor_override`` is not supported."""

    @staticmethod
    def supports(module: nn.AvgPool2d) -> bool:
        return module.divisor_override is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype not in SUPPORTED_DTYPES or self.divisor_override is not None:
            return super().forward(x)
        stride = self.stride if self.stride is not None else self.kernel_size
        return _batched(lambda x: _halkit_ops.avg_pool2d(x, _pair(self.kernel_size), _pair(stride),
                                                        _pair(self.padding), self.ceil_mode,
                                                        self.count_include_pad), x)

    @classmethod
    def from_torch(cls, module: nn.AvgPool2d) -> "HALAvgPool2d":
        return cls(module.kernel_size, module.stride, module.padding, module.ceil_mode, module.count_include_pad,
                   module.divisor_override)


class HALAdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` computed by the HAL (an output size of None keeps that input size)."""

    @staticmethod
    def supports(module: nn.AdaptiveAvgPool2d) -> bool:
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype not in SUPPORTED_DTYPES:
            return super().forward(x)
        size = [x.shape[i - 2] if s is None else s for i, s in enumerate(_pair(self.output_size))]
        return _batched(lambda x: _halkit_ops.adaptive_avg_pool2d(x, size), x)

    @classmethod
    def from_torch(cls, module: nn.AdaptiveAvgPool2d) -> "HALAdaptiveAvgPool2d":
        return cls(module.output_size)
