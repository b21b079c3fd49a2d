"""The cost model: each modelled duration equals its analytic formula."""
import math

import numpy as np
import pytest

import halkit.device as hd
from halkit.device.spec import SystolicArray, systolic_gemm_cycles


def test_link_copy_is_latency_plus_bytes_over_bandwidth(simple_spec):
    cost = simple_spec.link_copy_cost(10**6, "h2d")
    assert cost.seconds == pytest.approx(2e-6 + 10**6 / 1e10) and cost.engine == "h2d" and cost.bound == "memory"


def test_kernel_sits_on_the_roofline(simple_spec):
    compute_bound = simple_spec.kernel_cost(flops=1e9, nbytes=1000, dtype=np.float32)
    assert compute_bound.seconds == pytest.approx(1e-6 + 1e9 / 1e12) and compute_bound.bound == "compute"
    memory_bound = simple_spec.kernel_cost(flops=10, nbytes=10**8, dtype=np.float32)
    assert memory_bound.seconds == pytest.approx(1e-6 + 10**8 / 1e11) and memory_bound.bound == "memory"
    assert simple_spec.kernel_cost(1e9, 0, np.float64).seconds == pytest.approx(1e-6 + 1e9 / 5e11)


def test_gemm_without_array_uses_peak_flops_and_compulsory_traffic(simple_spec):
    m, k, n = 256, 256, 256
    cost = simple_spec.gemm_cost(m, k, n, np.float32)
    traffic = (m * k + k * n + m * n) * 4  # fits the 1 MiB SRAM: each operand moves once
    assert cost.nbytes == traffic and cost.flops == 2 * m * k * n
    assert cost.seconds == pytest.approx(1e-6 + max(2 * m * k * n / 1e12, traffic / 1e11))


def test_gemm_that_overflows_sram_rereads_tiles(simple_spec):
    m = k = n = 1024
    t = math.isqrt((1 << 20) // 12)
    expected = (m * n + m * k * math.ceil(n / t) + k * n * math.ceil(m / t)) * 4
    assert simple_spec.gemm_traffic(m, k, n, 4) == expected > (3 * m * n) * 4


@pytest.mark.parametrize("dataflow, mapped", [("os", (64, 32, 100)), ("ws", (100, 32, 64)), ("is", (100, 64, 32))])
def test_scalesim_cycles_single_fold(dataflow, mapped):
    m, k, n = 64, 100, 32  # S_R, S_C, T follow SCALE-Sim's mapping of M, K, N
    s_r, s_c, t = mapped
    array = SystolicArray(128, 128, dataflow)
    assert systolic_gemm_cycles(m, k, n, array) == 2 * s_r + s_c + t - 2


def test_scalesim_cycles_fold_when_larger_than_the_array():
    array = SystolicArray(32, 16, "os")
    # S_R = M = 100 -> 4 row folds, S_C = N = 40 -> 3 column folds, T = K = 7.
    assert systolic_gemm_cycles(100, 7, 40, array) == (2 * 32 + 16 + 7 - 2) * 4 * 3
    assert systolic_gemm_cycles(0, 7, 40, array) == 0


def test_systolic_gemm_time_is_cycles_over_clock(simple_spec):
    spec = simple_spec.replace(systolic=SystolicArray(16, 16, "ws", 1e9), memory_bandwidth=1e15)
    cost = spec.gemm_cost(64, 64, 64, np.float32)
    assert cost.seconds == pytest.approx(1e-6 + systolic_gemm_cycles(64, 64, 64, spec.systolic) / 1e9)
    assert cost.bound == "compute"


def test_bigger_array_is_faster_for_a_big_gemm(simple_spec):
    base = simple_spec.replace(memory_bandwidth=1e15)
    times = [base.with_array(r).gemm_cost(512, 512, 512, np.float32).seconds for r in (8, 32, 128)]
    assert times[0] > times[1] > times[2]


def test_presets_cite_sources_and_are_read_only():
    assert set(hd.PRESETS) >= {"a100-pcie", "tpu-v1", "edge-npu"}
    for spec in hd.PRESETS.values():
        assert len(spec.source) > 80 and spec.peak("float32") > 0
    with pytest.raises(TypeError):
        hd.PRESETS["a100-pcie"].peak_flops["float32"] = 1.0
    with pytest.raises(ValueError, match="unknown device preset"):
        hd.preset("gpu9000")


def test_bad_knobs_are_rejected(simple_spec):
    with pytest.raises(ValueError, match="link_bandwidth"):
        simple_spec.replace(link_bandwidth=0)
    with pytest.raises(ValueError, match="dataflow"):
        SystolicArray(4, 4, "rs")
    with pytest.raises(ValueError, match="no float16"):
        simple_spec.peak(np.float16)
