"""Fixtures for the mock-device tests: a fresh device per test, closed (and its threads joined) afterwards."""
import threading

import pytest

import halkit.device as hd
import halkit.hal as hal


@pytest.fixture
def device():
    with hd.Device("a100-pcie", memory_bytes=1 << 24) as dev:
        yield dev


@pytest.fixture
def simple_spec():
    """Round numbers so the analytic formulas are easy to read in the assertions."""
    return hd.DeviceSpec(name="simple", peak_flops={"float32": 1e12, "float64": 5e11}, memory_bandwidth=1e11,
                         link_bandwidth=1e10, link_latency=2e-6, launch_overhead=1e-6, sram_bytes=1 << 20,
                         memory_bytes=1 << 26)


@pytest.fixture
def mock():
    """The "mock" driver, registered here too in case the package's entry point is not installed (a source tree
    run without `pip install -e .`); test_driver.py checks the entry point itself."""
    try:
        return hal.get_backend("mock")
    except hal.BackendUnavailableError:
        hal.register_backend("mock", "halkit.device.driver:MockDriver")
        return hal.get_backend("mock")


@pytest.fixture
def no_thread_leaks():
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.name.startswith("halkit-")]
    assert not leaked, f"worker threads still alive: {leaked}"
