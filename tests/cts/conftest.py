"""The drivers the conformance tests run against: every backend that loads here, plus the example driver."""
from pathlib import Path

from halkit import cts

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "devices" / "arena_device.py"


def example_driver_class():
    """examples/devices/arena_device.py:ArenaDriver, imported from its file (it is not installed in CI)."""
    return cts.driver_class(f"{EXAMPLE}:ArenaDriver")
