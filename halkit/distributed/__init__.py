"""halkit.distributed — torchrun-compatible launching and data-parallel training.

* `python -m halkit.launch` / `launch(...)`: torch's elastic launcher plus the
  HAL worker environment (backend, threads per worker), loopback defaults and
  a failure report naming the failing rank.
* `process_group`, `sharded_loader`, `all_reduce_mean`, `save_checkpoint`,
  `load_checkpoint`, `replica_divergence`: what a DDP script on gloo needs.
* `python -m halkit.distributed.train`: the DDP recipe over HAL layers
  (examples/train_ddp.py runs it); `experiments` and `plots` run and compare
  it from a notebook.
"""

from halkit.distributed.data_parallel import (
    WorkerInfo,
    all_reduce_mean,
    load_checkpoint,
    process_group,
    replica_divergence,
    save_checkpoint,
    sharded_loader,
)
from halkit.distributed.runner import LaunchError, LaunchResult, launch, launch_command

__all__ = [
    "LaunchError",
    "LaunchResult",
    "WorkerInfo",
    "all_reduce_mean",
    "launch",
    "launch_command",
    "load_checkpoint",
    "process_group",
    "replica_divergence",
    "save_checkpoint",
    "sharded_loader",
]
