"""halkit.cts — the conformance suite every driver must pass.

It checks a driver through the device contract (allocate/free, copy_in/out,
launch, streams and events, capabilities) and through the op API on top of
it: memory, copies at offsets, stream ordering, events and timeouts, every op
× declared dtype against the numpy reference, DeviceArrays staying on the
device, error paths, threads and fallbacks. A driver lists what it cannot do
in ``capabilities().unsupported`` ({feature: reason}); those are expected
failures, reported with the reason.

From a shell::

    python -m halkit.cts --device native            # one registered driver
    python -m halkit.cts                            # every driver that loads here
    python -m halkit.cts --driver my_card:MyDriver  # a driver class not registered yet
    python -m halkit.cts --device mock --thorough   # more shapes

From Python (or pytest: tests/cts/test_cts.py parametrizes driver × check)::

    report = halkit.cts.run("native")
    print(halkit.cts.capability_matrix([report]))
"""
from .matrix import capability_matrix, contract_table
from .runner import (FAIL, NA, PASS, XFAIL, XPASS, Report, Result, checks, driver_class, expected_failure, run,
                     run_check)
from .suite import Check, NotApplicable

__all__ = ["run", "run_check", "checks", "driver_class", "expected_failure", "capability_matrix", "contract_table",
           "Report", "Result", "Check", "NotApplicable", "PASS", "FAIL", "XFAIL", "XPASS", "NA"]
