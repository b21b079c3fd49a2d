"""The suite fails drivers that break the contract: broken copies of the example driver (and of the numpy
driver) must fail the check that covers the broken rule, and only the harmless checks still pass."""
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from halkit import cts
from halkit.hal import HostDriver
from halkit.hal.builtin.numpy_reference import NumpyDriver

from .conftest import EXAMPLE, example_driver_class

ArenaDriver = example_driver_class()
ROOT = Path(__file__).resolve().parents[2]


def verdict(driver, feature, **kwargs):
    check = next(c for c in cts.checks(driver) if c.id == feature)
    return cts.run_check(driver, check, **kwargs)


class CopiesImmediately(ArenaDriver):
    """copy_in writes the device memory at the call instead of in stream order."""

    def copy_in(self, dst, src, stream):
        np.copyto(self._view(dst), src)


class IgnoresWaits(ArenaDriver):
    def wait(self, stream, event):
        pass


class IgnoresTimeouts(ArenaDriver):
    def synchronize(self, target=None, timeout=None):
        super().synchronize(target, None)


class Hangs(ArenaDriver):
    def synchronize(self, target=None, timeout=None):
        threading.Event().wait()


class WrongRelu(NumpyDriver):
    name = "wrong-relu"

    def relu(self, x):
        return np.abs(x)


class NeverOutOfMemory(HostDriver):
    """allocate ignores the capacity it declares (and the op checks fall back to the reference)."""

    name = "never-oom"

    def allocate(self, nbytes):
        return np.empty(min(int(nbytes), 1 << 20), np.uint8)


class UncheckedGemm(NumpyDriver):
    """Claims its gemm checks its arguments (the op API would skip its own checks) but NumPy's matmul takes
    integer, mixed and 3-D operands without a word."""

    name = "unchecked-gemm"
    checks_gemm_arguments = True


class StaleList(ArenaDriver):
    def capabilities(self):
        caps = super().capabilities()
        return type(caps)(caps.ops, caps.dtypes, caps.memory_bytes, caps.host_memory, caps.cost,
                          unsupported={"copy.roundtrip": "claims copies do not work", "not.a.feature": "typo"})


@pytest.mark.parametrize("driver_class, feature", [
    (CopiesImmediately, "stream.in_order"),
    (IgnoresWaits, "stream.cross_stream_event"),
    (IgnoresTimeouts, "event.timeout"),
    (WrongRelu, "ops.relu.float32"),
    (NeverOutOfMemory, "memory.capacity"),
    (UncheckedGemm, "errors.gemm_arguments"),
])
def test_broken_rule_fails_its_check(driver_class, feature):
    driver = driver_class()
    try:
        result = verdict(driver, feature)
        assert result.status == cts.FAIL, result
        assert result.message
    finally:
        driver.close()


def test_a_correct_check_still_passes_on_a_broken_driver():
    driver = WrongRelu()
    assert verdict(driver, "ops.gelu.float32").status == cts.PASS
    assert verdict(driver, "copy.views").status == cts.PASS


def test_a_hang_fails_instead_of_hanging_the_suite():
    driver = Hangs()
    result = verdict(driver, "event.query_synchronize", deadline=2)
    assert result.status == cts.FAIL and "hang" in result.message


def test_stale_and_unknown_unsupported_entries_are_reported():
    driver = StaleList()
    try:
        assert verdict(driver, "copy.roundtrip").status == cts.XPASS
        capabilities = verdict(driver, "capabilities")
        assert capabilities.status == cts.FAIL and "not.a.feature" in capabilities.message
        report = cts.run(driver, select="copy.*")
        assert not report.ok and report["copy.roundtrip"].status == cts.XPASS
        assert "stale expected failure: copy.roundtrip" in cts.capability_matrix([report])
    finally:
        driver.close()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "halkit.cts", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_cli_prints_the_matrix_and_passes_a_conforming_driver():
    done = run_cli("--device", "numpy", "--driver", f"{EXAMPLE}:ArenaDriver", "--select", "ops.gemm.*")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "numpy: 3 pass" in done.stdout and "arena: 1 pass" in done.stdout
    gemm_row = next(line for line in done.stdout.splitlines() if line.startswith("gemm "))
    assert gemm_row.split()[1:] == ["✓", "✓", "✓", "✓"]  # numpy f32 f64 bf16, arena f32
    assert "12 GB/s up" in done.stdout  # the arena's link, from its capabilities


def test_cli_fails_a_broken_driver_and_rejects_bad_arguments(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("from halkit.hal.builtin.numpy_reference import NumpyDriver\n"
                      "class Broken(NumpyDriver):\n    name = 'broken'\n"
                      "    def relu(self, x):\n        return -x\n")
    done = run_cli("--driver", f"{broken}:Broken", "--select", "ops.relu.*")
    assert done.returncode == 1 and "fail" in done.stdout and "ops.relu.float32" in done.stdout
    assert run_cli("--driver", "no/such/file.py:X").returncode == 2
    assert run_cli("--device", "no-such-device").returncode == 2
