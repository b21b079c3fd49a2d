"""The conformance suite as tests: every driver that loads here, and the example driver, × every check.

A check's verdict maps onto pytest's: pass, fail, xfail (the driver lists the feature as unsupported, with
the reason), skip (n/a, with the reason). A listed feature that passes fails here, so the lists stay true.
The example driver is not registered globally: the rest of the suite parametrizes over hal.backends().
"""
import pytest

import halkit.hal as hal
from halkit import cts

from .conftest import example_driver_class

DRIVERS = {name: hal.get_backend(name) for name in hal.backends()}
DRIVERS.setdefault("arena", example_driver_class()())

CASES = [pytest.param(driver, check, id=f"{name}:{check.id}")
         for name, driver in DRIVERS.items() for check in cts.checks(driver)]


@pytest.mark.parametrize("driver, check", CASES)
def test_conformance(driver, check):
    result = cts.run_check(driver, check)
    if result.status == cts.NA:
        pytest.skip(result.message)
    if result.status == cts.XFAIL:
        pytest.xfail(result.message)
    assert result.status == cts.PASS, f"{check.id} on {driver.name}: {result.status}: {result.message}"
