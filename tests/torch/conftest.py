"""Every test here runs once per HAL backend that loads (numpy, native when built, mock when it lands)."""
import pytest
import torch
import torch._functorch.config


@pytest.fixture(autouse=True)
def _on_each_backend(on_backend):
    # torch makes a custom op returning an input (or a view of one) an error only when CI is set;
    # make it an error here always, so the contract is checked on every machine.
    with torch._functorch.config.patch(error_on_custom_op_aliasing=True):
        yield on_backend


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
