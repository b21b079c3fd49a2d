"""The data side of DDP, in-process: sharding and exact resume (no workers started)."""

import pytest
import torch

from halkit.distributed import WorkerInfo, sharded_loader
from halkit.distributed.train import TrainConfig, batches_from, make_regression_data, parse_config

pytestmark = pytest.mark.timeout(60)
DATA = make_regression_data(TrainConfig(samples=64, in_features=4, out_features=2))


def steps_of(world_size: int, rank: int, start: int, count: int, global_batch: int = 16):
    loader, sampler = sharded_loader(DATA, global_batch, WorkerInfo(rank, rank, world_size), seed=0)
    out = []
    for step, (x, _) in batches_from(loader, sampler, start, len(loader)):
        if step >= start + count:
            return out
        out.append(x)


def test_ranks_together_see_exactly_the_one_process_batch():
    # 10 steps = 2.5 epochs of 4 steps: crosses reshuffles
    single = steps_of(1, 0, 0, 10)
    rank0, rank1 = steps_of(2, 0, 0, 10), steps_of(2, 1, 0, 10)
    for whole, a, b in zip(single, rank0, rank1):
        union = torch.cat([a, b])
        assert sorted(map(tuple, union.tolist())) == sorted(map(tuple, whole.tolist()))


def test_resuming_mid_epoch_replays_the_uninterrupted_batches():
    uninterrupted = steps_of(2, 1, 0, 10)
    resumed = steps_of(2, 1, 6, 4)  # restart at step 6 = middle of epoch 1
    assert all(torch.equal(a, b) for a, b in zip(uninterrupted[6:], resumed))


@pytest.mark.parametrize("global_batch, world, message", [(15, 2, "divisible by the world size"),
                                                          (24, 2, "multiple of global_batch")])
def test_uneven_sharding_is_a_clear_error(global_batch, world, message):
    with pytest.raises(ValueError, match=message):
        sharded_loader(DATA, global_batch, WorkerInfo(0, 0, world), seed=0)


@pytest.mark.parametrize("config, message", [
    (dict(steps=0), "steps must be >= 1"),
    # the old README's demo: a crash at step 50 of a 40-step run never happens
    (dict(crash_at_step=50), r"crash_at_step must be a step of the run, 0 to 39 \(steps=40\), got 50"),
    (dict(steps=10, crash_at_step=10), "0 to 9"),
    (dict(crash_at_step=-1), "got -1"),
    (dict(crash_at_step=3, crash_rank=-1), "crash_rank must be >= 0"),
])
def test_bad_training_config_is_a_clear_error(config, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**config)


def test_the_command_line_rejects_a_crash_step_beyond_the_run(capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_config(["--crash-at-step", "50"])
    assert stopped.value.code == 2
    assert "crash_at_step must be a step of the run" in capsys.readouterr().err
