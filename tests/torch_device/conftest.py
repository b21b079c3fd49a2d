"""Fixtures for the torch device "halkit": which HAL driver backs it, and a clean fallback ledger per test.

``driver`` runs a test once per driver that loads: the host drivers (numpy, native), the mock accelerator
behind a link and the example "arena" device (asynchronous, its own memory): a torch device that works for
those works for any driver that passes the conformance suite. ``mock`` pins the default device.
"""
import sys
from pathlib import Path

import pytest
import torch

import halkit.hal as hal
import halkit.torch  # noqa: F401  (registers torch.device("halkit"))
import halkit.torch.device as device

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "devices"


def _registered(name: str):
    """The driver called ``name``; the mock and the example arena are registered here when their entry points
    are not installed (a source checkout)."""
    try:
        return hal.get_backend(name)
    except hal.BackendUnavailableError:
        if name == "mock":
            hal.register_backend("mock", "halkit.device.driver:MockDriver")
        elif name == "arena":
            sys.path.insert(0, str(EXAMPLES))
            hal.register_backend("arena", "arena_device:ArenaDriver")
        else:
            raise
        return hal.get_backend(name)


DRIVERS = [name for name in ("numpy", "native") if name in hal.backends()] + ["mock", "arena"]


@pytest.fixture(autouse=True)
def _device_built():
    device.require()  # a clear error naming `python -m halkit.build` when the extension is missing


@pytest.fixture(params=DRIVERS)
def driver(request):
    with device.use(_registered(request.param)) as chosen:
        yield chosen


@pytest.fixture
def mock():
    with device.use(_registered("mock")) as chosen:
        yield chosen


@pytest.fixture(autouse=True)
def _fresh_ledger():
    hal.reset_fallback_counts()
    torch.manual_seed(0)
    yield
