"""HAL layers on a device behind a link keep their parameters resident — explicitly, never stale, never leaking.

The mock device's stats count every byte that crosses its link, so "the weights were not uploaded again" and
"an optimizer step reached the device" are facts a test can read, not timings.
"""
import gc
import subprocess
import sys

import pytest
import torch

import halkit.hal as hal
from halkit import HALLinear
from halkit.torch import params

SIZES = (512, 512, 512, 10)


@pytest.fixture
def mock():
    driver = hal.get_backend("mock")
    with hal.use("mock"):
        yield driver
    params.release(driver)


def mlp():
    torch.manual_seed(0)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [HALLinear(fan_in, fan_out)] + ([torch.nn.ReLU()] if i < len(SIZES) - 2 else [])
    return torch.nn.Sequential(*layers)


def test_second_forward_moves_only_activations(mock):
    model, x = mlp(), torch.randn(64, 512)
    with torch.no_grad():
        model(x)
        mock.reset_stats()
        y = model(x)
    stats = mock.stats()
    # Each HALLinear's input goes up and its output comes down (torch's ReLU runs in between, on the host);
    # no weight or bias byte crosses the link again.
    activations_in = 64 * 4 * sum(SIZES[:-1])
    activations_out = 64 * 4 * sum(SIZES[1:])
    assert stats["h2d_bytes"] == activations_in and stats["d2h_bytes"] == activations_out, stats
    assert stats["fallbacks"] == 0
    with torch.no_grad(), hal.use("numpy"):
        torch.testing.assert_close(y, model(x), atol=1e-5, rtol=1e-5)


def test_an_optimizer_step_is_never_served_stale(mock):
    model, x = mlp(), torch.randn(8, 512)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(x).square().mean().backward()
    optimizer.step()  # in place, on the host: bumps each parameter's version counter
    mock.reset_stats()
    with torch.no_grad():
        y = model(x)
    weight_bytes = sum(p.nbytes for p in model.parameters())
    assert mock.stats()["h2d_bytes"] == weight_bytes + 8 * 4 * sum(SIZES[:-1])  # every parameter re-uploaded once
    with torch.no_grad(), hal.use("numpy"):
        torch.testing.assert_close(y, model(x), atol=1e-5, rtol=1e-5)


def test_rebinding_param_data_is_seen(mock):
    layer, x = HALLinear(4, 3), torch.randn(2, 4)
    with torch.no_grad():
        layer(x)
        layer.weight.data = torch.zeros(3, 4)
        torch.testing.assert_close(layer(x), layer.bias.expand(2, 3))


def test_mirrors_die_with_their_parameters(mock):
    before = len(params._mirrors)
    model = mlp()
    with torch.no_grad():
        model(torch.randn(2, 512))
    assert len(params._mirrors) == before + 6
    used = mock.stats()["memory_used"]
    del model
    gc.collect()
    assert len(params._mirrors) == before
    assert mock.stats()["memory_used"] < used  # the resident weights were freed on the device


def test_a_mirror_dying_while_the_mirror_table_is_locked_does_not_deadlock():
    # The collector can run inside the table's lock (any allocation there may trigger it) and free a parameter;
    # its weakref callback then takes the lock again on the same thread. A fresh process: a deadlock here must
    # fail this test, not hang the session.
    code = (
        "import torch\n"
        "from halkit.torch import params\n"
        "p = torch.nn.Parameter(torch.randn(4))\n"
        "params.host_or_device(p)\n"
        "with params._lock:\n"
        "    del p  # the last reference: the weakref callback runs here, as it would inside a collection\n"
        "assert not params._mirrors\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
