"""DeviceSpec: THE cost model — every modelled duration in halkit comes from here.

The mock device prices each command it runs with its DeviceSpec, a driver
declares one in its capabilities, and the graph compiler places partitions by
the same numbers, so a compile report's modelled time and a device trace agree.

The model is first-order on purpose — the knobs a co-design question turns:

* a copy over the link (PCIe-like) costs ``link_latency + bytes / link_bandwidth``;
* a device-to-device copy reads and writes device memory: ``launch_overhead + 2·bytes / memory_bandwidth``;
* a fill writes it once: ``launch_overhead + bytes / memory_bandwidth``;
* a kernel sits on the roofline: ``launch_overhead + max(flops / peak_flops[dtype], bytes / memory_bandwidth)``,
  and it is "compute" bound when the first term wins, else "memory" bound;
* a GEMM on a device with a systolic array takes its compute time from the SCALE-Sim
  analytic model (:func:`systolic_gemm_cycles`) instead of the peak FLOP/s, and its
  memory traffic from a blocked (tiled) GEMM whose tiles fit the on-chip SRAM.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from . import opset

DATAFLOWS = ("os", "ws", "is")


@dataclass(frozen=True)
class SystolicArray:
    """A rows × cols grid of MAC units clocked at ``clock_hz``.

    ``dataflow`` says which operand stays in the PEs: "os" output stationary,
    "ws" weight stationary, "is" input stationary (SCALE-Sim's three dataflows).
    """

    rows: int
    cols: int
    dataflow: str = "os"
    clock_hz: float = 1e9

    def __post_init__(self):
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SystolicArray.{name} must be a positive int, got {value!r}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"SystolicArray.dataflow must be one of {DATAFLOWS}, got {self.dataflow!r}")
        if not self.clock_hz > 0:
            raise ValueError(f"SystolicArray.clock_hz must be positive, got {self.clock_hz!r}")

    @property
    def peak_flops(self) -> float:
        """Two FLOPs (multiply + add) per MAC per cycle."""
        return 2.0 * self.rows * self.cols * self.clock_hz


def systolic_gemm_cycles(m: int, k: int, n: int, array: SystolicArray) -> int:
    """Cycles for C[m×n] = A[m×k]·B[k×n] on ``array`` by SCALE-Sim's analytic model.

    Samajdar et al., "A Systematic Methodology for Characterizing Scalability of
    DNN Accelerators using SCALE-Sim", ISPASS 2020: a GEMM maps two of its
    dimensions onto the array (S_R rows, S_C columns) and streams the third
    through it over T cycles. One fold costs 2·S_R + S_C + T − 2 cycles (fill the
    skewed wavefront, stream T, drain); a workload larger than the array is cut
    into ⌈S_R/R⌉·⌈S_C/C⌉ folds that each occupy the whole array::

        cycles = (2·min(S_R, R) + min(S_C, C) + T − 2) · ⌈S_R/R⌉ · ⌈S_C/C⌉

    Mapping (SCALE-Sim's convention, M = output rows, K = reduction, N = output cols):
    os: S_R=M, S_C=N, T=K;  ws: S_R=K, S_C=N, T=M;  is: S_R=K, S_C=M, T=N.
    """
    if min(m, k, n) == 0:
        return 0
    s_r, s_c, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[array.dataflow]
    folds = math.ceil(s_r / array.rows) * math.ceil(s_c / array.cols)
    return (2 * min(s_r, array.rows) + min(s_c, array.cols) + t - 2) * folds


@dataclass(frozen=True)
class Cost:
    """The modelled cost of one command: its duration and what bounds it."""

    seconds: float
    flops: float = 0.0
    nbytes: int = 0
    bound: str | None = None  # "compute" | "memory" | None for markers
    engine: str | None = None  # "h2d" | "d2h" | "compute" | None (no hardware engine)


@dataclass(frozen=True)
class DeviceSpec:
    """What the hardware can do; every duration in the mock device is computed from these numbers.

    Units are SI: bytes, seconds, bytes/s, FLOP/s. ``peak_flops`` maps a dtype
    name ("float32", "float64") to the vector/compute peak used for non-GEMM
    kernels and for GEMMs on devices without a systolic array. The array's MACs
    are modelled as dtype-agnostic (its clock and shape set the GEMM rate).
    """

    name: str
    peak_flops: Mapping[str, float]
    memory_bandwidth: float
    link_bandwidth: float
    link_latency: float
    launch_overhead: float
    sram_bytes: int
    memory_bytes: int
    systolic: SystolicArray | None = None
    source: str = field(default="", repr=False)
    #: device→host bandwidth when it differs from ``link_bandwidth`` (host→device), e.g. a measured link.
    link_bandwidth_d2h: float | None = None

    def __post_init__(self):
        # A read-only copy: specs are shared (presets), so nobody may edit one in place.
        object.__setattr__(self, "peak_flops", MappingProxyType(dict(self.peak_flops)))
        if self.link_bandwidth_d2h is not None and not self.link_bandwidth_d2h > 0:
            raise ValueError(f"DeviceSpec.link_bandwidth_d2h must be positive, got {self.link_bandwidth_d2h!r}")
        for knob in ("memory_bandwidth", "link_bandwidth"):
            if not getattr(self, knob) > 0:
                raise ValueError(f"DeviceSpec.{knob} must be positive, got {getattr(self, knob)!r}")
        for knob in ("link_latency", "launch_overhead"):
            if not getattr(self, knob) >= 0:
                raise ValueError(f"DeviceSpec.{knob} must be >= 0, got {getattr(self, knob)!r}")
        if self.sram_bytes < 0 or self.memory_bytes < 0:
            raise ValueError("DeviceSpec.sram_bytes and memory_bytes must be >= 0")
        if not self.peak_flops or any(not v > 0 for v in self.peak_flops.values()):
            raise ValueError(f"DeviceSpec.peak_flops must map dtype names to positive FLOP/s, got {dict(self.peak_flops)}")

    def __hash__(self) -> int:  # peak_flops is a mapping: hash its items so specs can key caches
        return hash((self.name, tuple(sorted(self.peak_flops.items())), self.memory_bandwidth, self.link_bandwidth,
                     self.link_latency, self.launch_overhead, self.sram_bytes, self.memory_bytes, self.systolic,
                     self.link_bandwidth_d2h))

    def __repr__(self) -> str:
        return f"DeviceSpec({self.name!r}: {self.describe(compact=True)})"

    def describe(self, compact: bool = False) -> str:
        """The knobs in units a person reads (TFLOP/s, GB/s, µs, MiB)."""
        peaks = ", ".join(f"{dtype} {flops / 1e12:.3g} TFLOP/s" for dtype, flops in self.peak_flops.items())
        d2h = self.link_bandwidth_d2h or self.link_bandwidth
        parts = [
            f"peak {peaks}",
            f"memory {self.memory_bandwidth / 1e9:.4g} GB/s, {_size(self.memory_bytes)}",
            f"link {self.link_bandwidth / 1e9:.4g} GB/s up, {d2h / 1e9:.4g} GB/s down, {self.link_latency * 1e6:.3g} µs",
            f"launch {self.launch_overhead * 1e6:.3g} µs",
            f"SRAM {_size(self.sram_bytes)}",
        ]
        if self.systolic:
            s = self.systolic
            parts.append(f"{s.rows}×{s.cols} {s.dataflow} array at {s.clock_hz / 1e6:.4g} MHz")
        return ("; " if compact else "\n").join(parts)

    def replace(self, **changes) -> "DeviceSpec":
        """A copy with some knobs changed, e.g. ``spec.replace(link_bandwidth=4 * spec.link_bandwidth)``."""
        return dataclasses.replace(self, **changes)

    def with_array(self, rows: int, cols: int | None = None, dataflow: str | None = None) -> "DeviceSpec":
        """A copy whose systolic array is rows × cols (cols defaults to rows), keeping clock and dataflow."""
        base = self.systolic or SystolicArray(1, 1)
        array = SystolicArray(rows, rows if cols is None else cols, dataflow or base.dataflow, base.clock_hz)
        return self.replace(systolic=array)

    # --- cost formulas --------------------------------------------------------
    def peak(self, dtype) -> float:
        key = np.dtype(dtype).name
        if key not in self.peak_flops:
            raise ValueError(f"device {self.name!r} models no {key} arithmetic (it has {sorted(self.peak_flops)})")
        return self.peak_flops[key]

    def link_copy_cost(self, nbytes: int, direction: str) -> Cost:
        """host↔device over the link: latency + bytes / bandwidth (direction "h2d" or "d2h")."""
        bandwidth = self.link_bandwidth_d2h if direction == "d2h" and self.link_bandwidth_d2h else self.link_bandwidth
        return Cost(self.link_latency + nbytes / bandwidth, nbytes=nbytes, bound="memory", engine=direction)

    def device_copy_cost(self, nbytes: int) -> Cost:
        """device→device: every byte is read and written once."""
        return Cost(self.launch_overhead + 2 * nbytes / self.memory_bandwidth, nbytes=2 * nbytes,
                    bound="memory", engine="compute")

    def fill_cost(self, nbytes: int) -> Cost:
        return Cost(self.launch_overhead + nbytes / self.memory_bandwidth, nbytes=nbytes, bound="memory", engine="compute")

    def kernel_cost(self, flops: float, nbytes: int, dtype) -> Cost:
        """A kernel on the roofline: launch overhead + the slower of compute and memory traffic."""
        compute, memory = flops / self.peak(dtype), nbytes / self.memory_bandwidth
        return Cost(self.launch_overhead + max(compute, memory), flops=flops, nbytes=nbytes,
                    bound="compute" if compute >= memory else "memory", engine="compute")

    def gemm_traffic(self, m: int, k: int, n: int, itemsize: int) -> int:
        """Device-memory bytes a GEMM moves: each operand once if A, B and C fit the SRAM,
        else a blocked GEMM with square t×t tiles (three tiles resident: t = √(SRAM / 3·itemsize))
        that re-reads A once per column block and B once per row block."""
        compulsory = (m * k + k * n + m * n) * itemsize
        if compulsory <= self.sram_bytes:
            return compulsory
        t = max(1, math.isqrt(self.sram_bytes // (3 * itemsize)))
        return (m * n + m * k * math.ceil(n / t) + k * n * math.ceil(m / t)) * itemsize

    def gemm_cost(self, m: int, k: int, n: int, dtype, extra_flops: float = 0.0, extra_bytes: int = 0,
                  batch: int = 1) -> Cost:
        """``batch`` GEMMs C[m×n] = A[m×k]·B[k×n] (+ fused epilogue): systolic cycles when the device has an
        array, else peak FLOP/s."""
        flops = 2.0 * batch * m * k * n + extra_flops
        nbytes = max(0, batch * self.gemm_traffic(m, k, n, np.dtype(dtype).itemsize) + extra_bytes)
        if self.systolic is None:
            return self.kernel_cost(flops, nbytes, dtype)
        compute = batch * systolic_gemm_cycles(m, k, n, self.systolic) / self.systolic.clock_hz
        memory = nbytes / self.memory_bandwidth
        return Cost(self.launch_overhead + max(compute, memory), flops=flops, nbytes=nbytes,
                    bound="compute" if compute >= memory else "memory", engine="compute")

    def op_cost(self, op: str, inputs, outputs, params: dict) -> Cost:
        """The modelled cost of one launch of ``op`` (inputs/outputs: anything with .shape and .dtype).

        GEMM-shaped ops (gemm, bmm, the convolutions) go through :meth:`gemm_cost`: the operands a
        convolution unfolds are formed on chip, so its traffic is its real inputs and outputs plus what
        tiling re-reads; everything else sits on the roofline with the op set's FLOP count.
        """
        work = opset.work(op, inputs, outputs, params)
        dtype = next((o.dtype for o in outputs if np.dtype(o.dtype).kind == "f"), np.float32)
        if work.gemm is None:
            return self.kernel_cost(work.flops, work.nbytes, dtype)
        batch, m, k, n = work.gemm
        itemsize = np.dtype(dtype).itemsize
        compulsory = batch * (m * k + k * n + m * n) * itemsize  # what gemm_traffic counts when all fits
        return self.gemm_cost(m, k, n, dtype, extra_flops=work.flops - 2.0 * batch * m * k * n,
                              extra_bytes=work.nbytes - compulsory, batch=batch)


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.4g} {unit}"
    return f"{nbytes} B"


def host_spec(name: str = "host-cpu") -> DeviceSpec:
    """The host CPU as a DeviceSpec: what an op costs on a driver that computes in host memory.

    First-order numbers for a small shared x86 host (2 cores with AVX-512/AVX2 FMA at ~3 GHz: about
    200 GFLOP/s fp32, half that fp64, twice that bf16 (AVX512_BF16 dot products: two products per fp32
    lane); ~20 GB/s DRAM; a few µs of dispatch per op). There is no link:
    host memory needs no transfer, so link_latency is 0 and the bandwidth is effectively infinite.
    """
    return DeviceSpec(
        name=name, peak_flops={"float32": 200e9, "float64": 100e9, "bfloat16": 400e9}, memory_bandwidth=20e9,
        link_bandwidth=1e18, link_latency=0.0, launch_overhead=3e-6, sram_bytes=2 * 2**20,
        memory_bytes=16 * 2**30, source="first-order 2-core x86 host; see halkit.hal.cost.host_spec",
    )
