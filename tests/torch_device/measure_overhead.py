"""Per-op eager overhead of the torch device "halkit" and the route comparison behind its design.

    python tests/torch_device/measure_overhead.py            # linear on halkit (native, mock) vs cpu
    python tests/torch_device/measure_overhead.py --routes   # C++-storage route (ours) vs Python-only prototype

Times are medians of interleaved rounds (candidates alternate within each round, so load hits them
alike); a halkit call is timed with the device synchronized at the end of each round. Prints the CPU,
torch's and the HAL's thread counts.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROUNDS = 7
SHAPES = {(1, 64, 64): 300, (64, 512, 512): 30}  # shape -> calls per round
THREADS = 1  # torch's and the HAL's: the machine is shared; one thread each compares like with like


def _cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def _per_call(fn, sync=None, calls: int = 300) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    if sync:
        sync()
    return (time.perf_counter() - start) / calls


def linear_overhead() -> None:
    import halkit.hal as hal
    import halkit.torch.device as device

    try:
        hal.get_backend("mock")
    except hal.BackendUnavailableError:
        hal.register_backend("mock", "halkit.device.driver:MockDriver")
    torch.set_num_threads(THREADS)
    hal.set_num_threads(THREADS)
    print(f"{_cpu_name()}; torch threads {torch.get_num_threads()}, HAL threads {hal.get_num_threads()}")
    print(f"{'driver':8} {'linear':>14} {'cpu us':>9} {'halkit us':>10} {'ratio':>7}")
    linear = torch.nn.functional.linear
    for name in ("native", "mock"):
        with device.use(name):
            for (batch, n_in, n_out), calls in SHAPES.items():
                x, w, b = torch.randn(batch, n_in), torch.randn(n_out, n_in), torch.randn(n_out)
                xd, wd, bd = x.to("halkit"), w.to("halkit"), b.to("halkit")
                cpu, dev = [], []
                for _ in range(ROUNDS):
                    cpu.append(_per_call(lambda: linear(x, w, b), calls=calls))
                    dev.append(_per_call(lambda: linear(xd, wd, bd), torch.halkit.synchronize, calls))
                c, d = statistics.median(cpu), statistics.median(dev)
                print(f"{name:8} {f'{batch}x{n_in}->{n_out}':>14} {c * 1e6:9.1f} {d * 1e6:10.1f} {d / c:7.1f}")


def _ours(driver: str) -> float:
    import halkit.hal as hal
    import halkit.torch.device as device

    torch.set_num_threads(THREADS)
    hal.set_num_threads(THREADS)
    with device.use(driver):
        x, w, b = (torch.randn(1, 64).to("halkit"), torch.randn(64, 64).to("halkit"), torch.randn(64).to("halkit"))
        torch.nn.functional.linear(x, w, b)
        return _per_call(lambda: torch.nn.functional.linear(x, w, b), torch.halkit.synchronize)


def routes() -> None:
    here = Path(__file__).resolve()
    ours = [sys.executable, str(here), "--ours"]
    theirs = [sys.executable, str(here.parent / "python_route_prototype.py"), "native", "--time"]
    results = {"C++ storage route (ours)": [], "Python-only route (prototype)": []}
    for _ in range(5):  # PrivateUse1 is renamed once per process: one process per sample, alternating
        for label, cmd in zip(results, (ours, theirs)):
            results[label].append(float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    print(f"{_cpu_name()}; linear 1x64->64 on the native driver, per call (median of 5 processes)")
    for label, samples in results.items():
        print(f"  {label:32} {statistics.median(samples) * 1e6:8.1f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", action="store_true")
    parser.add_argument("--ours", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours:
        print(_ours("native"))
    elif args.routes:
        routes()
    else:
        linear_overhead()
