"""The mock device's hardware presets: DeviceSpecs of real devices, each citing its sources.

The cost model itself (DeviceSpec and its formulas) is :mod:`halkit.hal.cost`, shared by every driver
and by the graph compiler's placement.
"""
from __future__ import annotations

from halkit.hal.cost import Cost, DeviceSpec, SystolicArray, systolic_gemm_cycles

__all__ = ["Cost", "DeviceSpec", "SystolicArray", "systolic_gemm_cycles", "PRESETS", "preset"]

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
