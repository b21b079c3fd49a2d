"""Eager vs compiled wall-clock, measured the house way: same inputs, same run, median of repeats."""
from __future__ import annotations

import statistics
import time

import torch


def median_seconds(step, repeats: int = 20, warmup: int = 3) -> float:
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def forward_step(model, x):
    def step():
        with torch.no_grad():
            model(x)
    return step


def training_step(model, x, target, lr: float = 1e-3):
    """One SGD step (forward, MSE loss, backward, update) on model's own parameters."""
    params = [p for p in model.parameters() if p.requires_grad]

    def step():
        for p in params:
            p.grad = None
        torch.nn.functional.mse_loss(model(x), target).backward()
        with torch.no_grad():
            for p in params:
                p.sub_(lr * p.grad)
    return step


def compare(eager_step, compiled_step, repeats: int = 20) -> dict:
    """{"eager_s", "compiled_s", "ratio"} — ratio = compiled / eager (below 1: compiled is faster)."""
    eager = median_seconds(eager_step, repeats)
    compiled = median_seconds(compiled_step, repeats)
    return {"eager_s": eager, "compiled_s": compiled, "ratio": compiled / eager,
            "torch_threads": torch.get_num_threads()}
