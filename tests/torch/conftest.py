"""Every test here runs once per HAL backend that loads (numpy, native when built, mock when it lands)."""
import pytest
import torch
import torch._functorch.config

from halkit import hal


def pytest_collection_modifyitems(config, items):
    """HALLinear's C++ route exists on drivers that publish host kernels only: on the others its tests (marked
    host_kernels, or test_eager_route's "host" route) are left out rather than skipped one by one."""
    def needs_host_kernels(item):
        params = getattr(getattr(item, "callspec", None), "params", {})
        return ("backend" in params and (params.get("route") == "host" or item.get_closest_marker("host_kernels"))
                and hal.get_backend(params["backend"]).host_kernels is None)
    items[:] = [item for item in items if not needs_host_kernels(item)]


@pytest.fixture(autouse=True)
def _on_each_backend(on_backend):
    # torch makes a custom op returning an input (or a view of one) an error only when CI is set;
    # make it an error here always, so the contract is checked on every machine.
    with torch._functorch.config.patch(error_on_custom_op_aliasing=True):
        yield on_backend


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
