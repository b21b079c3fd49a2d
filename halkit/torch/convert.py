"""``convert(model)``: swap the torch layers the HAL supports for their HAL modules."""
from __future__ import annotations

import copy

from torch import nn

from .arrays import SUPPORTED_DTYPES
from .modules import HALConv2d, HALLayerNorm, HALLinear
from .pooling import HALAdaptiveAvgPool2d, HALAvgPool2d, HALMaxPool2d

# Exact types only: a subclass may override forward, which the swap would silently drop.
_REPLACEMENTS = {nn.Linear: HALLinear, nn.Conv2d: HALConv2d, nn.LayerNorm: HALLayerNorm, nn.MaxPool2d: HALMaxPool2d,
                 nn.AvgPool2d: HALAvgPool2d, nn.AdaptiveAvgPool2d: HALAdaptiveAvgPool2d}


def convert(model: nn.Module, inplace: bool = True) -> nn.Module:
    """Replace every nn.Linear, nn.Conv2d, nn.LayerNorm, nn.MaxPool2d, nn.AvgPool2d and nn.AdaptiveAvgPool2d
    in ``model`` by its HAL module.

    The HAL modules hold the same Parameter objects, so an optimizer built on
    the model's parameters keeps working. Layers the HAL cannot run are left
    alone (multi-dimensional LayerNorm, asymmetric 'same' padding, max pooling
    that returns indices, average pooling with a divisor override, parameters
    that are not float32/float64 CPU tensors), as
    are subclasses of the torch layers; children are converted recursively.
    Hooks registered on a replaced layer are not carried over.

    With ``inplace=False`` the model is deep-copied first and the original is
    untouched. Returns the converted model (a new module when ``model`` is
    itself a supported layer).
    """
    if not inplace:
        model = copy.deepcopy(model)
    replacement = _replacement(model)
    if replacement is not None:
        return replacement
    for name, child in model.named_children():
        converted = convert(child, inplace=True)
        if converted is not child:
            setattr(model, name, converted)
    return model


def _replacement(module: nn.Module) -> nn.Module | None:
    hal_type = _REPLACEMENTS.get(type(module))
    if hal_type is None or not hal_type.supports(module):
        return None
    if not all(p.dtype in SUPPORTED_DTYPES and p.device.type == "cpu" for p in module.parameters(recurse=False)):
        return None
    return hal_type.from_torch(module)
