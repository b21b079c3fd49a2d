"""Data-parallel training of a HAL-layer MLP: the recipe behind examples/train_ddp.py.

    python -m halkit.launch --nproc-per-node 2 -m halkit.distributed.train --steps 40

Every rank holds a replica of a model built from `halkit.HALLinear` layers
(forward and backward run through the HAL backend the launcher chose) wrapped
in torch's DistributedDataParallel, which all-reduces the gradients over gloo.
Rank 0 alone logs, checkpoints and writes the metrics file. With a checkpoint
path, a restarted group (`--max-restarts`) resumes at the last saved step and
replays the same batches, so the loss curve has no gap and no repeat.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset

import halkit
from halkit import hal
from halkit.distributed.data_parallel import (
    WorkerInfo,
    all_reduce_mean,
    load_checkpoint,
    process_group,
    replica_divergence,
    save_checkpoint,
    sharded_loader,
)


@dataclass
class TrainConfig:
    steps: int = 40
    global_batch: int = 32
    samples: int = 512
    in_features: int = 32
    hidden: int = 64
    out_features: int = 8
    lr: float = 0.05
    seed: int = 0
    log_every: int = 10
    checkpoint: str | None = None
    checkpoint_every: int = 5
    metrics: str | None = None
    # Chaos switch for trying --max-restarts: this rank exits with code 3
    # before this step, in the group's first attempt only.
    crash_at_step: int | None = None
    crash_rank: int = 1

    def __post_init__(self):
        for name in ("steps", "global_batch", "samples", "in_features", "hidden",
                     "out_features", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        # A crash step the run never reaches would make a restart demo that silently never crashes.
        if self.crash_at_step is not None and not 0 <= self.crash_at_step < self.steps:
            raise ValueError(f"crash_at_step must be a step of the run, 0 to {self.steps - 1} "
                             f"(steps={self.steps}), got {self.crash_at_step}")
        if self.crash_rank < 0:
            raise ValueError(f"crash_rank must be >= 0, got {self.crash_rank}")


def build_mlp(sizes: list[int], seed: int) -> nn.Sequential:
    """Linear→ReLU→...→Linear from HAL layers; same seed → same weights everywhere."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [halkit.HALLinear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def make_regression_data(cfg: TrainConfig) -> TensorDataset:
    """A fixed synthetic task (a random teacher network), identical on every rank."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    x = torch.randn(cfg.samples, cfg.in_features, generator=gen)
    teacher = torch.randn(cfg.in_features, cfg.out_features, generator=gen) / cfg.in_features**0.5
    return TensorDataset(x, torch.tanh(x @ teacher))


def batches_from(loader, sampler, start_step: int, steps_per_epoch: int):
    """Yield (step, batch) from `start_step` on, exactly as an uninterrupted run would."""
    step = start_step
    for epoch in itertools.count(start_step // steps_per_epoch):
        sampler.set_epoch(epoch)  # a fresh, rank-consistent shuffle per epoch
        skip = step - epoch * steps_per_epoch  # resuming mid-epoch: replay its order
        for batch in itertools.islice(loader, skip, None):
            yield step, batch
            step += 1


def train(cfg: TrainConfig) -> dict | None:
    """Run the training; rank 0 returns (and optionally writes) the metrics."""
    with process_group("gloo") as info:
        return _train(cfg, info)


def _train(cfg: TrainConfig, info: WorkerInfo) -> dict | None:
    if cfg.crash_at_step is not None and cfg.crash_rank >= info.world_size:
        raise ValueError(f"crash_rank must be a rank of this run, 0 to {info.world_size - 1}, "
                         f"got {cfg.crash_rank}")
    model = build_mlp([cfg.in_features, cfg.hidden, cfg.hidden, cfg.out_features], cfg.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    losses: list[float] = []
    start_step = 0
    saved = load_checkpoint(cfg.checkpoint)
    if saved is not None:  # resume: same weights, momentum, step and curve so far
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        start_step, losses = saved["next_step"], saved["losses"]
        _log(info, f"resumed from {cfg.checkpoint} at step {start_step}")
    ddp_model = DistributedDataParallel(model)

    loader, sampler = sharded_loader(make_regression_data(cfg), cfg.global_batch, info, cfg.seed)
    step_times: list[float] = []
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))
    for step, (x, y) in batches_from(loader, sampler, start_step, len(loader)):
        if step >= cfg.steps:
            break
        if step == cfg.crash_at_step and info.rank == cfg.crash_rank and attempt == 0:
            print(f"rank {info.rank}: simulated crash before step {step}", flush=True)
            os._exit(3)  # abrupt, like a real crash: no cleanup, no goodbye to the group
        started = time.perf_counter()
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(ddp_model(x), y)
        loss.backward()  # DDP all-reduces (averages) the gradients here
        optimizer.step()
        step_times.append(time.perf_counter() - started)
        losses.append(float(all_reduce_mean(loss)))
        if (step + 1) % cfg.log_every == 0:
            _log(info, f"step {step + 1}/{cfg.steps} loss {losses[-1]:.5f}")
        if cfg.checkpoint and (step + 1) % cfg.checkpoint_every == 0:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "next_step": step + 1, "losses": losses}
            save_checkpoint(cfg.checkpoint, state, info)

    return _gather_metrics(cfg, info, model, losses, step_times, attempt)


def _gather_metrics(cfg, info, model, losses, step_times, attempt) -> dict | None:
    """Per-rank speed, collected on rank 0 with the loss curve and a sync check."""
    timed = step_times[1:] or step_times  # the first step pays one-off warm-up costs
    median_step = statistics.median(timed) if timed else float("nan")
    mine = {
        "rank": info.rank,
        "median_step_s": median_step,
        "samples_per_s": (cfg.global_batch // info.world_size) / median_step,
    }
    per_rank = [None] * info.world_size
    torch.distributed.all_gather_object(per_rank, mine)
    divergence = replica_divergence(model)
    if not info.is_main:
        return None
    metrics = {
        "config": asdict(cfg),
        "world_size": info.world_size,
        "hal_backend": hal.current_backend(),
        "hal_threads": hal.get_num_threads(),
        "torch_threads": torch.get_num_threads(),
        "restarts": attempt,
        "losses": losses,
        "per_rank": per_rank,
        "median_step_s": max(r["median_step_s"] for r in per_rank),  # slowest rank sets the pace
        "replica_divergence": divergence,
    }
    if cfg.metrics:
        Path(cfg.metrics).write_text(json.dumps(metrics, indent=1))
    _log(info, f"done: final loss {losses[-1]:.5f}, {metrics['median_step_s'] * 1e3:.2f} ms/step")
    return metrics


def _log(info: WorkerInfo, message: str) -> None:
    if info.is_main:
        print(f"[rank 0/{info.world_size}] {message}", flush=True)


# TrainConfig fields whose default (None) does not tell argparse their type.
_OPTIONAL_ARG_TYPES = {"checkpoint": str, "metrics": str, "crash_at_step": int}


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in asdict(TrainConfig()).items():
        kind = _OPTIONAL_ARG_TYPES.get(name) or type(default)
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=default)
    try:
        return TrainConfig(**vars(parser.parse_args(argv)))
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    train(parse_config(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
