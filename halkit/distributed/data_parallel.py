"""Small helpers a data-parallel (DDP) training script needs, on gloo.

They read the standard environment the launcher sets (RANK, WORLD_SIZE,
MASTER_ADDR, ...), so a script using them runs unchanged under
`python -m halkit.launch`, under plain `torchrun`, or as `python script.py`
(a one-process group).
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler


@dataclass(frozen=True)
class WorkerInfo:
    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        """Rank 0 logs and writes checkpoints; the others stay quiet."""
        return self.rank == 0


@contextmanager
def process_group(backend: str = "gloo"):
    """Join the launcher's process group (or make a 1-process one); leave it on exit.

    Yields a WorkerInfo. gloo is the CPU collective backend; a real device
    backend with its own collectives would be named here instead. Keep the
    DDP model inside a function called within the block (not a variable
    that outlives it) so it is freed before the group is destroyed.
    """
    if "RANK" in os.environ:
        dist.init_process_group(backend, init_method="env://")
    else:  # plain `python script.py`: same code path, world of one
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield WorkerInfo(
            rank=dist.get_rank(),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
            world_size=dist.get_world_size(),
        )
    finally:
        # DDP replicas the caller has dropped may still sit in reference
        # cycles that pin the group; if they are only freed at interpreter
        # exit, gloo's teardown can abort the process ("terminate called
        # without an active exception"). Free them while the group is alive.
        gc.collect()
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of `value` over all ranks (a new tensor; the input is untouched)."""
    total = value.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / dist.get_world_size()


def sharded_loader(
    dataset: Dataset, global_batch: int, info: WorkerInfo, seed: int
) -> tuple[DataLoader, DistributedSampler]:
    """A loader giving each rank its share of every global batch.

    The DistributedSampler shuffles the same permutation on every rank (same
    seed and epoch) and deals it out rank by rank, so the union of the ranks'
    batches at step i is exactly the 1-process batch at step i — which is
    what makes an N-process run reproduce the 1-process loss curve.
    """
    if global_batch % info.world_size:
        raise ValueError(
            f"global_batch={global_batch} must be divisible by the world size {info.world_size}"
        )
    if len(dataset) % global_batch:
        raise ValueError(
            f"dataset size {len(dataset)} must be a multiple of global_batch={global_batch} "
            "(otherwise ranks would see padded or dropped samples)"
        )
    sampler = DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed
    )
    loader = DataLoader(dataset, batch_size=global_batch // info.world_size, sampler=sampler)
    return loader, sampler


def save_checkpoint(path: str | os.PathLike, state: dict, info: WorkerInfo) -> None:
    """Rank 0 writes `state` atomically; every rank waits until it is on disk.

    Write-then-rename: a crash mid-save leaves the previous checkpoint intact.
    """
    if info.is_main:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(state, partial)
        os.replace(partial, path)
    dist.barrier()


def load_checkpoint(path: str | os.PathLike | None) -> dict | None:
    """The saved state, or None when there is no checkpoint yet (a fresh run)."""
    if path is None or not Path(path).exists():
        return None
    return torch.load(path, weights_only=True)


def replica_divergence(model: torch.nn.Module) -> float:
    """Largest parameter difference between any rank and rank 0 (0.0 = in sync).

    DDP's gradient all-reduce must keep every replica identical; this checks it.
    """
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    gap = (flat - reference).abs().max()
    dist.all_reduce(gap, op=dist.ReduceOp.MAX)
    return float(gap)
