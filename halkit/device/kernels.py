"""The device's kernel table: for each HAL primitive, how to check its buffers, size its output, count its work and run it.

Kernels execute with a host HAL backend (native when built, else numpy) on
the buffers' storage, so the mock computes exactly what the reference does.
FLOP counts per element of the non-GEMM kernels are first-order estimates
(e.g. gelu ≈ 10: the erf polynomial), good enough to place them on a roofline.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import DeviceError


@dataclass(frozen=True)
class Kernel:
    name: str
    inputs: tuple[str, ...]  # positional buffer arguments; a trailing "?" marks an optional one
    out_shape: Callable  # (shapes: dict name -> shape|None, params) -> output shape; raises on mismatch
    flops_per_output: float  # ignored by gemm and conv2d, which count their GEMM's 2·M·K·N
    run: Callable  # (backend, arrays: dict, params) -> ndarray
    params: tuple[str, ...] = ()  # keyword parameters the kernel accepts


def _gemm_dims(shapes, params):
    (ar, ac), (br, bc) = shapes["a"], shapes["b"]
    m, k = (ac, ar) if params.get("trans_a") else (ar, ac)
    k2, n = (bc, br) if params.get("trans_b") else (br, bc)
    if k != k2:
        raise DeviceError(f"gemm: inner dimensions differ: op(a) is {m}×{k}, op(b) is {k2}×{n}")
    if shapes.get("bias") not in (None, (n,)):
        raise DeviceError(f"gemm: bias must have shape ({n},), got {shapes['bias']}")
    return m, k, n


def _pairs(params):
    return [tuple(params.get(k, d)) for k, d in (("stride", (1, 1)), ("padding", (0, 0)), ("dilation", (1, 1)))]


def _conv_dims(shapes, params):
    """(N, O, OH, OW) and the im2col GEMM's (M, K, N_out) of an NCHW convolution."""
    (n, c, h, w), (o, c2, kh, kw) = shapes["x"], shapes["w"]
    (sh, sw), (ph, pw), (dh, dw) = _pairs(params)
    if c != c2:
        raise DeviceError(f"conv2d: x has {c} channels but w expects {c2}")
    if shapes.get("bias") not in (None, (o,)):
        raise DeviceError(f"conv2d: bias must have shape ({o},), got {shapes['bias']}")
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise DeviceError(f"conv2d: the output would be empty ({oh}×{ow})")
    return (n, o, oh, ow), (n * oh * ow, c * kh * kw, o)


def _same_as_first(shapes, params):
    first = next(s for s in shapes.values() if s is not None)
    for shape in shapes.values():
        if shape is not None and shape != first:
            raise DeviceError(f"operands must have equal shapes, got {shapes}")
    return first


def _last_axis_vector(vector_names):
    def out_shape(shapes, params):
        x = shapes["x"]
        if len(x) < 1:
            raise DeviceError("x must have at least 1 dimension")
        for name in vector_names:
            if shapes.get(name) not in (None, (x[-1],)):
                raise DeviceError(f"{name} must have shape ({x[-1]},) to match x {x}, got {shapes[name]}")
        return x
    return out_shape


def _unary(method):
    return lambda backend, arrays, params: getattr(backend, method)(arrays["x"])


def _binary(method, first, second):
    return lambda backend, arrays, params: getattr(backend, method)(arrays[first], arrays[second])


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in [
        Kernel("gemm", ("a", "b", "bias?"), lambda s, p: _gemm_dims(s, p)[::2], 0.0,
               lambda be, a, p: be.gemm(a["a"], a["b"], bool(p.get("trans_a")), bool(p.get("trans_b")),
                                        a.get("bias"), p.get("activation")),
               ("trans_a", "trans_b", "activation")),
        Kernel("conv2d", ("x", "w", "bias?"), lambda s, p: _conv_dims(s, p)[0], 0.0,
               lambda be, a, p: be.conv2d(a["x"], a["w"], a.get("bias"), *_pairs(p)),
               ("stride", "padding", "dilation")),
        Kernel("relu", ("x",), _same_as_first, 1, _unary("relu")),
        Kernel("gelu", ("x",), _same_as_first, 10, _unary("gelu")),
        Kernel("add_bias", ("x", "b"), _last_axis_vector(["b"]), 1, _binary("add_bias", "x", "b")),
        Kernel("sum_rows", ("x",), lambda s, p: _last_axis_vector([])(s, p)[-1:], 1,
               lambda be, a, p: be.sum_rows(a["x"])),
        Kernel("softmax", ("x",), _last_axis_vector([]), 5, _unary("softmax")),
        Kernel("layer_norm", ("x", "weight?", "bias?"), _last_axis_vector(["weight", "bias"]), 8,
               lambda be, a, p: be.layer_norm(a["x"], a.get("weight"), a.get("bias"), float(p.get("eps", 1e-5))),
               ("eps",)),
        Kernel("add", ("a", "b"), _same_as_first, 1, _binary("add", "a", "b")),
        Kernel("mul", ("a", "b"), _same_as_first, 1, _binary("mul", "a", "b")),
        Kernel("relu_backward", ("grad", "x"), _same_as_first, 1, _binary("relu_backward", "grad", "x")),
        Kernel("gelu_backward", ("grad", "x"), _same_as_first, 14, _binary("gelu_backward", "grad", "x")),
    ]
}

_ACTIVATION_FLOPS = {None: 0, "relu": 1, "gelu": 10}


def lookup(name: str) -> Kernel:
    if name not in KERNELS:
        raise DeviceError(f"unknown kernel {name!r}: the device has {sorted(KERNELS)}")
    return KERNELS[name]


def bind(kernel: Kernel, args: tuple, params: dict) -> dict:
    """Name the positional buffer arguments; optional trailing ones may be omitted or None."""
    required = [n for n in kernel.inputs if not n.endswith("?")]
    if not len(required) <= len(args) <= len(kernel.inputs):
        raise DeviceError(f"kernel {kernel.name!r} takes buffers {kernel.inputs}, got {len(args)}")
    unknown = sorted(set(params) - set(kernel.params))
    if unknown:
        raise DeviceError(f"kernel {kernel.name!r} takes parameters {kernel.params}, got unknown {unknown}")
    if kernel.name == "gemm" and params.get("activation") not in _ACTIVATION_FLOPS:
        raise DeviceError(f"gemm activation must be None, 'relu' or 'gelu', got {params.get('activation')!r}")
    return {name.rstrip("?"): arg for name, arg in zip(kernel.inputs, args)}


def output_shape(kernel: Kernel, bound: dict, params: dict) -> tuple[int, ...]:
    shapes = {name: (None if buf is None else tuple(buf.shape)) for name, buf in bound.items()}
    return tuple(kernel.out_shape(shapes, params))


def cost(kernel: Kernel, bound: dict, out_shape, params: dict, dtype, spec):
    """The kernel's modelled cost on ``spec``: GEMMs through spec.gemm_cost, the rest on the roofline."""
    itemsize = np.dtype(dtype).itemsize
    out_elems = math.prod(out_shape)
    if kernel.name == "gemm":
        m, k, n = _gemm_dims({n_: (None if b is None else tuple(b.shape)) for n_, b in bound.items()}, params)
        epilogue = (1 if bound.get("bias") is not None else 0) + _ACTIVATION_FLOPS[params.get("activation")]
        bias_bytes = n * itemsize if bound.get("bias") is not None else 0
        return spec.gemm_cost(m, k, n, dtype, extra_flops=epilogue * m * n, extra_bytes=bias_bytes)
    if kernel.name == "conv2d":
        # Modelled as its im2col GEMM: the patch matrix is formed on chip, so the input
        # is read once (not kh·kw times) and the GEMM's A-operand traffic is replaced by it.
        shapes = {n_: (None if b is None else tuple(b.shape)) for n_, b in bound.items()}
        m, k, n = _conv_dims(shapes, params)[1]
        return spec.gemm_cost(m, k, n, dtype, extra_flops=(m * n if bound.get("bias") is not None else 0),
                              extra_bytes=bound["x"].nbytes - m * k * itemsize)
    in_bytes = sum(b.nbytes for b in bound.values() if b is not None)
    return spec.kernel_cost(kernel.flops_per_output * max(out_elems, _reduced_elems(kernel, bound)),
                            in_bytes + out_elems * itemsize, dtype)


def _reduced_elems(kernel, bound):
    # sum_rows does one add per input element, not per output element.
    return math.prod(bound["x"].shape) if kernel.name == "sum_rows" else 0
