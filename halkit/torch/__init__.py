"""halkit.torch — the PyTorch adapter over the HAL.

* ``HALLinear``, ``HALConv2d``, ``HALLayerNorm`` and the pooling layers ``HALMaxPool2d``,
  ``HALAvgPool2d``, ``HALAdaptiveAvgPool2d``: drop-ins for the torch.nn layers;
* ``convert(model)``: swaps those layers in an existing model;
* ``linear``, ``conv2d``, ``layer_norm``: the differentiable functions behind them;
* ``torch.ops.halkit.*``: every HAL op as a torch.library operator with a fake
  kernel (and autograd for the forward ops), registered on import, for
  torch.compile, export and the graph compiler.
* ``torch.device("halkit")``: the PrivateUse1 device whose tensors live in HAL
  device memory (:mod:`halkit.torch.device`), registered on import once built.
* ``profile()``: one Chrome/Perfetto trace of a step — torch's ops on the host,
  the device's streams, copies and kernels, on one clock (:mod:`halkit.torch.profiling`).
"""
from . import device  # noqa: F401  (registers torch.device("halkit") when its extension is built)
from . import ops  # noqa: F401  (registers torch.ops.halkit.*)
from .convert import convert
from .functional import conv2d, layer_norm, linear
from .modules import HALConv2d, HALLayerNorm, HALLinear
from .pooling import HALAdaptiveAvgPool2d, HALAvgPool2d, HALMaxPool2d
from .profiling import profile

__all__ = ["HALAdaptiveAvgPool2d", "HALAvgPool2d", "HALConv2d", "HALLayerNorm", "HALLinear", "HALMaxPool2d", "convert",
           "conv2d", "layer_norm", "linear", "profile"]
