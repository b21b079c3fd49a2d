"""Data-parallel training of a HAL-layer model — run it with halkit's launcher.

    # one process (or plain `python examples/train_ddp.py`)
    python -m halkit.launch --nproc-per-node 1 examples/train_ddp.py --steps 40

    # two workers on this machine, each with half the cores
    python -m halkit.launch --nproc-per-node 2 examples/train_ddp.py --steps 40 \
        --metrics metrics.json

    # survive a crash: restart the group, resume from the last checkpoint
    python -m halkit.launch --nproc-per-node 2 --max-restarts 1 examples/train_ddp.py \
        --checkpoint ckpt.pt --crash-at-step 12

    # two "nodes" (run each line in its own terminal; on a cluster use the
    # first node's address instead of 127.0.0.1)
    python -m halkit.launch --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d \
        --rdzv-endpoint 127.0.0.1:29400 --rdzv-id demo examples/train_ddp.py
    (same again on the second node)

The training loop itself is `halkit/distributed/train.py`: HALLinear layers
in DistributedDataParallel over gloo, a DistributedSampler, rank-0-only
logging and checkpointing. `--help` lists its options.
"""

import sys

from halkit.distributed.train import main

if __name__ == "__main__":
    sys.exit(main())
