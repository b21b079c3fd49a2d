"""HALLinear, HALConv2d, HALLayerNorm: drop-ins for their torch.nn counterparts.

Each subclasses the torch module it replaces, so the constructor, parameters,
initialisation, ``state_dict`` keys, ``repr`` and ``isinstance`` checks are
torch's own; only ``forward`` changes, to run through the HAL. ``supports(m)``
says whether the HAL can run a given torch layer's configuration, and
``from_torch(m)`` builds the HAL layer around that layer's parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from . import functional


class HALLinear(nn.Linear):
    """``nn.Linear`` computed by the HAL: y = x @ weight.T + bias, gradients for x, weight and bias."""

    @staticmethod
    def supports(module: nn.Linear) -> bool:
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Parameters straight from their dict when that is where they are: nn.Module.__getattr__ costs ~1 µs
        # per name, a fifth of a batch-1 layer. Not for a subclass: a parametrized module
        # (torch.nn.utils.parametrize) is one, whose ``weight`` is a property computed on access.
        params = self._parameters
        if type(self) is HALLinear and "weight" in params and "bias" in params:
            return functional.linear(x, params["weight"], params["bias"])
        return functional.linear(x, self.weight, self.bias)  # e.g. pruned: the weight is a plain attribute

    @classmethod
    def from_torch(cls, module: nn.Linear) -> "HALLinear":
        """A HALLinear sharing ``module``'s parameters (the same Parameter objects)."""
        new = cls(module.in_features, module.out_features, bias=module.bias is not None, device="meta")
        return _adopt(new, module)


class HALLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the last dimension computed by the HAL.

    Only a one-dimensional ``normalized_shape`` (an int or a 1-tuple) is supported.
    """

    def __init__(self, normalized_shape, *args, **kwargs):
        super().__init__(normalized_shape, *args, **kwargs)
        if len(self.normalized_shape) != 1:
            raise ValueError(
                f"HALLayerNorm normalises over the last dimension only: normalized_shape must be an int "
                f"or a 1-tuple, got {tuple(self.normalized_shape)} (use torch.nn.LayerNorm for that)"
            )

    @staticmethod
    def supports(module: nn.LayerNorm) -> bool:
        return len(module.normalized_shape) == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.layer_norm(x, self.weight, self.bias, self.eps)

    @classmethod
    def from_torch(cls, module: nn.LayerNorm) -> "HALLayerNorm":
        new = cls(
            module.normalized_shape,
            eps=module.eps,
            elementwise_affine=module.elementwise_affine,
            bias=module.bias is not None,
            device="meta",
        )
        return _adopt(new, module)


class HALConv2d(nn.Conv2d):
    """``nn.Conv2d`` computed by the HAL, grouped and depthwise convolutions and unbatched (C, H, W) input included.

    Every padding mode works: non-zero modes pad with torch first, as
    nn.Conv2d does, then convolve without padding. ``padding="same"`` needs a
    symmetric padding (odd dilated kernel), which the HAL's conv2d takes; an
    even kernel with "same" is refused at construction.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        reason = _unsupported_conv(self)
        if reason:
            raise ValueError(f"HALConv2d: {reason}; keep torch.nn.Conv2d for this layer (halkit.convert leaves it alone)")
        self._hal_padding = _explicit_padding(self.padding, self.kernel_size, self.dilation)

    @staticmethod
    def supports(module: nn.Conv2d) -> bool:
        return _unsupported_conv(module) is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":
            x = nn.functional.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = (0, 0)
        else:
            padding = self._hal_padding
        return functional.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    @classmethod
    def from_torch(cls, module: nn.Conv2d) -> "HALConv2d":
        new = cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
            device="meta",
        )
        return _adopt(new, module)


def _unsupported_conv(module: nn.Conv2d) -> str | None:
    """Why the HAL cannot run this nn.Conv2d configuration, or None when it can."""
    if module.padding == "same" and any(d * (k - 1) % 2 for k, d in zip(module.kernel_size, module.dilation)):
        return (
            f"padding='same' with kernel_size={module.kernel_size}, dilation={module.dilation} needs asymmetric "
            "padding, which the HAL's conv2d does not take; use an odd kernel or explicit padding"
        )
    return None


def _explicit_padding(padding, kernel_size, dilation) -> tuple[int, int]:
    if padding == "valid":
        return (0, 0)
    if padding == "same":  # symmetric: _unsupported_conv has refused the rest
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel_size, dilation))
    return tuple(padding)


def _adopt(new: nn.Module, old: nn.Module) -> nn.Module:
    """Give ``new`` (built on the meta device, so nothing was initialised) ``old``'s parameters and mode."""
    for name, param in old.named_parameters(recurse=False):
        setattr(new, name, param)
    new.train(old.training)
    return new
