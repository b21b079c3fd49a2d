"""The acceptance case shared with the device-contract issue, through the torch device: a 3-layer MLP of
halkit.HALLinear (64×512 → 512 → 512 → 10) moved with .to("halkit") onto the mock accelerator."""
import copy
import ctypes
import gc
import statistics

import psutil
import torch
from torch import nn

import halkit

BATCH, FEATURES = 64, 512


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(halkit.HALLinear(FEATURES, 512), nn.ReLU(), halkit.HALLinear(512, 512), nn.ReLU(),
                         halkit.HALLinear(512, 10))


def test_a_second_forward_moves_only_its_input_and_output(mock):
    model = _mlp().to("halkit")
    x = torch.randn(BATCH, FEATURES)
    with torch.no_grad():
        model(x.to("halkit")).cpu()
        mock.reset_stats()
        y = model(x.to("halkit")).cpu()
    stats = mock.stats()
    assert stats["h2d_bytes"] == x.numel() * 4 and stats["h2d_copies"] == 1
    assert stats["d2h_bytes"] == y.numel() * 4 and stats["d2h_copies"] == 1
    assert stats["fallbacks"] == 0 and stats["launches"] > 0


def test_after_an_sgd_step_the_next_forward_uses_the_new_weights(mock):
    host = _mlp()
    resident = copy.deepcopy(host).to("halkit")
    x, target = torch.randn(BATCH, FEATURES), torch.randn(BATCH, 10)
    for model, where in ((host, "cpu"), (resident, "halkit")):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        before = model(x.to(where))
        nn.functional.mse_loss(before, target.to(where)).backward()
        optimizer.step()
        model.after = model(x.to(where)).detach().cpu()
        assert not torch.allclose(model.after, before.detach().cpu())
    torch.testing.assert_close(resident.after, host.after, rtol=1e-4, atol=1e-5)


def test_training_keeps_device_and_host_memory_flat(mock):
    model = _mlp().to("halkit")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, target = torch.randn(BATCH, FEATURES).to("halkit"), torch.randn(BATCH, 10).to("halkit")
    process = psutil.Process()
    samples = []
    for step in range(1000):
        loss = nn.functional.mse_loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 100 and step % 100 == 0:  # after warm-up: caches filled, gradients allocated
            torch.halkit.synchronize()
            gc.collect()  # garbage of earlier tests in this process is not this loop's memory
            _LIBC.malloc_trim(0)  # RSS counts heap that malloc freed but kept; hand it back before sampling
            samples.append((mock.stats()["memory_used"], torch.halkit.memory_allocated(), process.memory_info().rss))
    device_memory, tensors, rss = zip(*samples)
    for name, series in (("mock device memory", device_memory), ("halkit tensors", tensors)):
        assert max(series) == min(series), f"{name} changed between steps: {series}"
    # The host heap still moves by a few percent (torch's and the allocator's own caches); a leak is a trend.
    assert statistics.median(rss[-3:]) <= 1.05 * statistics.median(rss[:3]), f"host RSS grew: {rss}"
    assert loss.item() < 1.0


_LIBC = ctypes.CDLL("libc.so.6")
