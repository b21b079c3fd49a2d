import pytest
import torch


@pytest.fixture(autouse=True)
def fresh_dynamo():
    # Every test compiles nn.Module.forward again; without a reset the shared code object's
    # cache hits dynamo's recompile limit and later tests would silently run eagerly.
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()
