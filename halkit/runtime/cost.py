"""Modelled time of a HAL op or a transfer: the numbers the placement policy and the timeline use.

The policy speaks to a small protocol, :class:`CostModel`. :class:`SpecCostModel`
implements it over a ``halkit.device`` DeviceSpec (roofline kernels, systolic
GEMMs, link copies), so any device preset — or the host CPU described as one —
gives placement its numbers.
"""
from __future__ import annotations

import math
from typing import Protocol, Sequence

import numpy as np

Shape = Sequence[int]

# FLOPs per output element of the non-GEMM HAL ops (first-order: exp/erf counted as a few FLOPs).
FLOPS_PER_ELEMENT = {
    "relu": 1, "add": 1, "mul": 1, "add_bias": 1, "relu_backward": 1, "sum_rows": 1,
    "gelu": 10, "gelu_backward": 15, "softmax": 5, "layer_norm": 8, "copy": 0,
}


class CostModel(Protocol):
    """What placement needs to know about a device."""

    def kernel_time(self, op: str, shapes: Sequence[Shape], dtype) -> float:
        """Seconds for one HAL op; shapes are its tensor inputs' shapes, then its output's."""

    def transfer_time(self, nbytes: int) -> float:
        """Seconds to move nbytes between host and device memory (0 when the device reads host memory)."""


def _numel(shape: Shape) -> int:
    return math.prod(shape)


def op_work(op: str, shapes: Sequence[Shape], itemsize: int) -> tuple[str, tuple]:
    """("gemm", (m, k, n, extra_flops)) for GEMM-shaped ops, else ("kernel", (flops, nbytes))."""
    *inputs, out = shapes
    if op == "matmul":
        (m, k), (_, n) = inputs[0], inputs[1]
        return "gemm", (m, k, n, 0.0)
    if op == "linear":
        k, n = inputs[1]
        m = _numel(out) // max(n, 1)
        return "gemm", (m, k, n, 2.0 * m * n)  # bias + activation epilogue
    if op == "conv2d":  # im2col: (N·OH·OW) × (C·kh·kw) times (C·kh·kw) × O
        o, c, kh, kw = inputs[1]
        return "gemm", (_numel(out) // max(o, 1), c * kh * kw, o, float(_numel(out)))
    if op in ("conv2d_input_grad", "conv2d_weight_grad", "conv2d_backward"):
        grad = inputs[0]  # (N, O, OH, OW); both gradients are one GEMM each over the unfolded input
        weight = {"conv2d_input_grad": inputs[1], "conv2d_weight_grad": out, "conv2d_backward": inputs[-1]}[op]
        o, positions, patch = grad[1], _numel(grad) // max(grad[1], 1), _numel(weight) // max(weight[0], 1)
        if op == "conv2d_input_grad":
            return "gemm", (positions, o, patch, 0.0)
        if op == "conv2d_weight_grad":
            return "gemm", (o, positions, patch, 0.0)
        return "gemm", (positions, o, 2 * patch, 0.0)  # input and weight gradients: two GEMMs of this size
    nbytes = (sum(_numel(s) for s in inputs) + _numel(out)) * itemsize
    if op.startswith("elementwise_chain"):
        steps = int(op.partition(":")[2] or 1)
        return "kernel", (float(_numel(out) * steps * 4), nbytes)
    return "kernel", (float(_numel(out) * FLOPS_PER_ELEMENT.get(op, 1)), nbytes)


class SpecCostModel:
    """A CostModel over a DeviceSpec; ``host_memory`` devices (numpy, native) never transfer."""

    def __init__(self, spec, host_memory: bool = False):
        self.spec = spec
        self.host_memory = host_memory

    def kernel_time(self, op: str, shapes: Sequence[Shape], dtype) -> float:
        kind, work = op_work(op, shapes, np.dtype(dtype).itemsize)
        if kind == "gemm":
            m, k, n, extra = work
            return self.spec.gemm_cost(m, k, n, dtype, extra_flops=extra).seconds
        flops, nbytes = work
        return self.spec.kernel_cost(flops, nbytes, dtype).seconds

    def transfer_time(self, nbytes: int) -> float:
        if self.host_memory or nbytes == 0:
            return 0.0
        return self.spec.link_copy_cost(nbytes, "h2d").seconds

    def __repr__(self) -> str:
        return f"SpecCostModel({self.spec.name!r}{', host memory' if self.host_memory else ''})"


def host_spec():
    """The host CPU as a DeviceSpec: what a node costs when it falls back to torch on the CPU.

    First-order numbers for a small shared x86 host (2 cores, AVX2 FMA at ~3 GHz: 2·2·8·2·3e9 ≈ 200
    GFLOP/s fp32, half that fp64; ~20 GB/s DRAM; a few µs of eager-dispatch overhead per op). The
    link fields are unused: host memory needs no transfer.
    """
    from halkit.device.spec import DeviceSpec

    return DeviceSpec(
        name="host-cpu", peak_flops={"float32": 200e9, "float64": 100e9}, memory_bandwidth=20e9,
        link_bandwidth=1e18, link_latency=0.0, launch_overhead=3e-6, sram_bytes=2 * 2**20,
        memory_bytes=16 * 2**30, source="first-order 2-core AVX2 host; see halkit.runtime.cost.host_spec",
    )


def host_cost_model() -> SpecCostModel:
    return SpecCostModel(host_spec(), host_memory=True)
