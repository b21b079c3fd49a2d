"""Long runs on the mock stay flat: 4000 training steps on DeviceArrays keep host RSS, device memory and the
engine schedule bounded (issue: the schedule kept every modelled interval, +79 MiB over 240k calls).

The run is a fresh interpreter, so its RSS is the mock's alone; warm-up steps first fill the (bounded) trace.
"""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(600)

STEPS, WARMUP = 4000, 300

_TRAIN = """
import json, os, sys
import numpy as np
import halkit.hal as hal
import halkit.device as hd

steps, warmup = int(sys.argv[1]), int(sys.argv[2])
device = hd.Device("a100-pcie", memory_bytes=1 << 28, trace_capacity=4096)
driver = hd.MockDriver(device)
rng = np.random.default_rng(0)
x = rng.standard_normal((32, 64)).astype(np.float32)
t = rng.standard_normal((32, 10)).astype(np.float32)
params = [hal.to_device(a, driver) for a in (rng.standard_normal((128, 64)).astype(np.float32) * 0.1,
                                             np.zeros(128, np.float32),
                                             rng.standard_normal((10, 128)).astype(np.float32) * 0.1,
                                             np.zeros(10, np.float32))]


def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def step(lr=0.05):
    # a 64 -> 128 -> 10 MLP, MSE loss, forward + backward + SGD, all on the device; the loss comes back
    w1, b1, w2, b2 = params
    xd, td = hal.to_device(x, driver), hal.to_device(t, driver)
    h = hal.linear(xd, w1, b1, "relu")
    g = hal.scale(hal.sub(hal.linear(h, w2, b2), td), 2.0 / t.size)
    dz = hal.relu_backward(hal.matmul(g, w2), h)
    grads = (hal.matmul(dz, xd, trans_a=True), hal.sum_rows(dz), hal.matmul(g, h, trans_a=True), hal.sum_rows(g))
    params[:] = [hal.add(p, d, alpha=-lr) for p, d in zip(params, grads)]
    return float(hal.sum(hal.mul(g, g)).numpy())


first = [step() for _ in range(warmup)][0]
before = dict(rss=rss(), device=driver.stats()["memory_used"], schedule=len(device.engines))
last = [step() for _ in range(steps)][-1]
after = dict(rss=rss(), device=driver.stats()["memory_used"], schedule=len(device.engines))
print(json.dumps(dict(before=before, after=after, trace=len(device.trace), first=first, last=last,
                      commands=driver.stats()["launches"])))
"""


def test_4000_training_steps_keep_host_and_device_memory_flat():
    out = subprocess.run([sys.executable, "-c", _TRAIN, str(STEPS), str(WARMUP)], capture_output=True, text=True,
                         timeout=580)
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    before, after = run["before"], run["after"]
    assert run["last"] < 0.5 * run["first"]  # it trained
    assert run["commands"] == (STEPS + WARMUP) * 16  # every step ran on the device (16 kernels each)
    assert run["trace"] == 4096  # full before the measured steps: bounded, not growing
    assert after["device"] == before["device"] == 4 * (128 * 64 + 128 + 10 * 128 + 10)  # the parameters only
    assert 0.95 * before["rss"] <= after["rss"] <= 1.05 * before["rss"], run
    # the schedule forgets what no command can reach: a few settle periods, not one interval per command
    assert after["schedule"] < 1024 and before["schedule"] < 1024, run
