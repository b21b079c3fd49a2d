"""Each rank writes OUT_DIR/rank<RANK>.json: its environment and a DDP gradient check.

The check: every rank trains on its own shard through a HAL-layer model in
DistributedDataParallel; after backward, its gradients (all-reduced over
gloo) must equal the full-batch gradient that each rank can also compute
alone, from every rank's shard, without any communication.
"""

import json
import os
import sys
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

import halkit
from halkit import hal
from halkit.distributed import process_group
from halkit.distributed.train import build_mlp

SIZES, SEED = [8, 16, 4], 0


def shard(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(100 + rank)
    return torch.randn(6, SIZES[0], generator=gen), torch.randn(6, SIZES[-1], generator=gen)


def mse(model, rank):
    x, y = shard(rank)
    return torch.nn.functional.mse_loss(model(x), y)


def report(info):
    ddp = DistributedDataParallel(build_mlp(SIZES, SEED))
    mse(ddp, info.rank).backward()  # DDP averages gradients across ranks

    reference = build_mlp(SIZES, SEED)  # same weights; no communication below
    full_batch = sum(mse(reference, r) for r in range(info.world_size)) / info.world_size
    full_batch.backward()

    grad_error = max(
        float((p.grad - q.grad).abs().max())
        for p, q in zip(ddp.module.parameters(), reference.parameters())
    )
    keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT",
            "HALKIT_BACKEND", "HALKIT_NUM_THREADS", "OMP_NUM_THREADS"]
    result = {
        "env": {k: os.environ.get(k) for k in keys},
        "rank": info.rank,
        "world_size": info.world_size,
        "hal_backend": hal.current_backend(),
        "hal_threads": hal.get_num_threads(),
        "torch_threads": torch.get_num_threads(),
        "layer_types": sorted({type(m).__name__ for m in ddp.module.modules()}),
        "uses_hal_linear": any(isinstance(m, halkit.HALLinear) for m in ddp.module.modules()),
        "grad_error": grad_error,
    }
    Path(sys.argv[1], f"rank{info.rank}.json").write_text(json.dumps(result))


with process_group("gloo") as info:
    report(info)  # the DDP model lives in report(), so it is freed before the group
