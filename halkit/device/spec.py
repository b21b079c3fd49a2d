"""DeviceSpec: the hardware cost model that gives every command a modelled duration.

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

    def __post_init__(self):
        # A read-only copy: specs are shared (presets), so nobody may edit one in place.
        object.__setattr__(self, "peak_flops", MappingProxyType(dict(self.peak_flops)))
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
                     self.link_latency, self.launch_overhead, self.sram_bytes, self.memory_bytes, self.systolic))

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
        return Cost(self.link_latency + nbytes / self.link_bandwidth, nbytes=nbytes, bound="memory", engine=direction)

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

    def gemm_cost(self, m: int, k: int, n: int, dtype, extra_flops: float = 0.0, extra_bytes: int = 0) -> Cost:
        """C[m×n] = A[m×k]·B[k×n] (+ fused epilogue): systolic cycles when the device has an array, else peak FLOP/s."""
        flops = 2.0 * m * k * n + extra_flops
        nbytes = self.gemm_traffic(m, k, n, np.dtype(dtype).itemsize) + extra_bytes
        if self.systolic is None:
            return self.kernel_cost(flops, nbytes, dtype)
        compute = systolic_gemm_cycles(m, k, n, self.systolic) / self.systolic.clock_hz
        memory = nbytes / self.memory_bandwidth
        return Cost(self.launch_overhead + max(compute, memory), flops=flops, nbytes=nbytes,
                    bound="compute" if compute >= memory else "memory", engine="compute")


GiB, MiB, KiB = 2**30, 2**20, 2**10

# PCIe per-direction payload rates from the lane rate and encoding (PCI-SIG base specs):
# Gen2 5 GT/s 8b/10b = 500 MB/s per lane; Gen3 8 GT/s 128b/130b ≈ 985 MB/s; Gen4 16 GT/s ≈ 1969 MB/s.
_PCIE_GEN2_X1 = 0.5e9
_PCIE_GEN3_X16 = 16 * 8e9 * 128 / 130 / 8
_PCIE_GEN4_X16 = 16 * 16e9 * 128 / 130 / 8

PRESETS: dict[str, DeviceSpec] = {
    "a100-pcie": DeviceSpec(
        name="a100-pcie",
        peak_flops={"float32": 19.5e12, "float64": 9.7e12},
        memory_bandwidth=1555e9,
        link_bandwidth=_PCIE_GEN4_X16,
        link_latency=10e-6,
        launch_overhead=5e-6,
        sram_bytes=40 * MiB,
        memory_bytes=40 * GiB,
        source=(
            "A PCIe datacenter card. NVIDIA A100 Tensor Core GPU datasheet (PCIe 40GB): FP32 19.5 TFLOP/s, "
            "FP64 9.7 TFLOP/s (non-tensor), HBM2 1,555 GB/s, 40 GB, PCIe Gen4 x16; 40 MB L2 (NVIDIA A100 "
            "whitepaper) stands in for the SRAM. Link latency 10 µs and launch overhead 5 µs are typical "
            "measured magnitudes for small cudaMemcpy / kernel launches, not datasheet numbers. Tensor cores "
            "are not modelled (no systolic array)."
        ),
    ),
    "tpu-v1": DeviceSpec(
        name="tpu-v1",
        peak_flops={"float32": 256 * 700e6, "float64": 256 * 700e6},
        memory_bandwidth=34e9,
        link_bandwidth=_PCIE_GEN3_X16,
        link_latency=10e-6,
        launch_overhead=10e-6,
        sram_bytes=28 * MiB,
        memory_bytes=8 * GiB,
        systolic=SystolicArray(256, 256, "ws", 700e6),
        source=(
            "A PCIe inference card with a systolic array. Jouppi et al., 'In-Datacenter Performance "
            "Analysis of a Tensor Processing Unit', ISCA 2017: 256×256 8-bit MACs at 700 MHz (92 TOPS), "
            "weight stationary, 28 MiB on-chip memory (24 MiB unified buffer + 4 MiB accumulators), "
            "8 GiB DDR3 at 34 GB/s, PCIe Gen3 x16. Assumptions: the array's MAC rate applies to float "
            "dtypes; non-GEMM ops run one 256-wide vector op per cycle; latency/overhead 10 µs."
        ),
    ),
    "edge-npu": DeviceSpec(
        name="edge-npu",
        peak_flops={"float32": 64 * 480e6, "float64": 32 * 480e6},
        memory_bandwidth=8e9,
        link_bandwidth=_PCIE_GEN2_X1,
        link_latency=20e-6,
        launch_overhead=20e-6,
        sram_bytes=8 * MiB,
        memory_bytes=1 * GiB,
        systolic=SystolicArray(64, 64, "os", 480e6),
        source=(
            "A small edge NPU on a one-lane link, modelled on the Google Coral Edge TPU (coral.ai "
            "datasheets: 4 TOPS int8, 8 MB on-chip SRAM, M.2/mini-PCIe modules on PCIe Gen2 x1 = 500 MB/s). "
            "Assumptions chosen to match the 4 TOPS peak, not published: a 64×64 output-stationary array "
            "at 480 MHz (2·64·64·480 MHz ≈ 3.9 TOPS), a 64-lane vector unit, 8 GB/s memory, 1 GiB, "
            "20 µs link latency and launch overhead."
        ),
    ),
}


def preset(name: str) -> DeviceSpec:
    """A DeviceSpec by preset name (see PRESETS; each cites its sources in ``.source``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown device preset {name!r}: choose one of {sorted(PRESETS)}")
    return PRESETS[name]
