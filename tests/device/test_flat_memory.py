"""Long runs on the mock stay flat: 4000 training steps on DeviceArrays keep host RSS, device memory and the
engine schedule bounded (issue: the schedule kept every modelled interval, +79 MiB over 240k calls; the
residency cache kept activations as weights).

The run is a fresh interpreter, so its RSS is the mock's alone; warm-up steps first fill the (bounded) trace.
"""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(600)

STEPS, WARMUP = 4000, 500

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
t = x @ rng.standard_normal((64, 10)).astype(np.float32)  # a linear target the model can learn
params = [hal.to_device(np.zeros((10, 64), np.float32), driver), hal.to_device(np.zeros(10, np.float32), driver)]


def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def step(lr=0.1):
    # linear regression, MSE loss: forward, backward and the SGD update all on the device; the error comes back
    w, b = params
    xd = hal.to_device(x, driver)
    g = hal.sub(hal.linear(xd, w, b), hal.to_device(t, driver))  # dL/dy up to the factor 2/N folded into lr
    grads = (hal.matmul(g, xd, trans_a=True), hal.sum_rows(g))
    params[:] = [hal.add(p, d, alpha=-lr / len(x)) for p, d in zip(params, grads)]
    return float(np.mean(g.numpy() ** 2))


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
    assert run["last"] < 0.01 * run["first"]  # it trained
    assert run["commands"] == (STEPS + WARMUP) * 6  # every step ran on the device (6 kernels each)
    assert run["trace"] == 4096  # full before the measured steps: bounded, not growing
    assert after["device"] == before["device"] == 4 * (10 * 64 + 10)  # the parameters only
    assert 0.95 * before["rss"] <= after["rss"] <= 1.05 * before["rss"], run
    # the schedule forgets what no command can reach: a few settle periods, not one interval per command
    assert after["schedule"] < 1024 and before["schedule"] < 1024, run
