"""What the launcher hands to torch's elastic agent — checked without starting workers."""

import logging
import os

import pytest

from halkit.distributed import launch_command
from halkit.distributed.launcher import build_launch, build_parser, threads_per_worker
from halkit.hal.threads import MAX_THREADS, usable_cores

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """build_launch writes the worker env into os.environ; undo all of it after each test."""
    saved = dict(os.environ)
    for name in ("HALKIT_BACKEND", "HALKIT_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)  # start from the launcher's defaults
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize(
    "nproc, cores, expected", [(1, 2, 2), (2, 2, 1), (4, 2, 1), (2, 16, 8), (3, 16, 5)]
)
def test_threads_split_the_cores_between_local_workers(nproc, cores, expected):
    assert threads_per_worker(nproc, cores) == expected


def test_threads_reject_zero_workers():
    with pytest.raises(ValueError, match="nproc_per_node"):
        threads_per_worker(0)


def test_single_node_defaults_are_explicit_and_loopback_only():
    config, cmd, cmd_args, env = build_launch(["--nproc-per-node", "2", "train.py", "--lr", "1"])
    # LaunchConfig's own defaults (etcd, 3 restarts) must not leak through.
    assert config.rdzv_backend == "c10d"
    assert config.rdzv_endpoint == "127.0.0.1:0"
    assert config.max_restarts == 0
    assert config.local_addr == "127.0.0.1"  # becomes MASTER_ADDR
    assert (config.min_nodes, config.max_nodes, config.nproc_per_node) == (1, 1, 2)
    assert cmd_args[-4:] == ["halkit.distributed.worker", "train.py", "--lr", "1"]
    assert env["HALKIT_NUM_THREADS"] == str(max(1, usable_cores() // 2))
    assert env["OMP_NUM_THREADS"] == env["HALKIT_NUM_THREADS"]
    assert env["HALKIT_BACKEND"]


def test_module_scripts_keep_their_module_flag():
    *_, cmd_args, _ = build_launch(["-m", "halkit.distributed.train", "--steps", "3"])
    assert cmd_args[-5:] == ["halkit.distributed.worker", "--module",
                             "halkit.distributed.train", "--steps", "3"]


def test_multi_node_flags_are_passed_through():
    config, *_ = build_launch([
        "--nnodes", "2", "--node-rank", "1", "--rdzv-backend", "c10d",
        "--rdzv-endpoint", "10.1.2.3:29400", "--rdzv-id", "job7", "--max-restarts", "2",
        "train.py",
    ])
    assert (config.rdzv_backend, config.rdzv_endpoint, config.run_id) == ("c10d", "10.1.2.3:29400", "job7")
    assert config.max_restarts == 2
    assert config.local_addr is None  # a real cluster: no loopback pinning


def test_user_thread_settings_win(monkeypatch):
    monkeypatch.setenv("HALKIT_NUM_THREADS", "3")
    *_, env = build_launch(["--nproc-per-node", "2", "train.py"])
    assert env["HALKIT_NUM_THREADS"] == "3"
    *_, env = build_launch(["--nproc-per-node", "2", "--hal-threads", "5", "train.py"])
    assert env["HALKIT_NUM_THREADS"] == "5"


HAL_THREADS_RANGE = f"must be an int from 1 to {MAX_THREADS}"  # the HAL's own wording


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hal-threads", "0", "train.py"], f"--hal-threads {HAL_THREADS_RANGE}"),
        (["--hal-threads", "5000", "train.py"], f"--hal-threads {HAL_THREADS_RANGE}"),
        (["--hal-backend", "no-such-backend", "train.py"], "no-such-backend"),
        (["--nproc-per-node", "0", "--hal-threads", "2", "train.py"], "--nproc-per-node must be >= 1"),
        (["--nproc-per-node", "0", "train.py"], "--nproc-per-node must be >= 1"),
    ],
)
def test_bad_flags_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        build_launch(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("value", ["5000", "lots"])
def test_a_bad_thread_count_in_the_environment_is_refused_up_front(value, monkeypatch, capsys):
    monkeypatch.setenv("HALKIT_NUM_THREADS", value)
    with pytest.raises(SystemExit):
        build_launch(["--nproc-per-node", "2", "train.py"])
    assert f"HALKIT_NUM_THREADS {HAL_THREADS_RANGE}" in capsys.readouterr().err


def test_help_leads_with_halkit_flags_and_two_examples():
    text = build_parser().format_help()
    lines = text.splitlines()
    assert lines[0] == "usage: python -m halkit.launch [halkit flags] [torchrun flags] SCRIPT [SCRIPT ARGS...]"
    examples = [line.strip() for line in lines if line.strip().startswith("python -m halkit.launch")]
    assert len(examples) == 2
    # halkit's flags, then torchrun's, each under a heading that says whose they are
    order = [text.index(s) for s in ("examples:", "halkit flags:", "--hal-threads", "--torch-log-level",
                                     "torchrun flags (torch.distributed.run, unchanged):", "--nnodes")]
    assert order == sorted(order)
    assert text.index("--hal-backend") < 40 * 80  # within the first screen or so, not after 160 lines


def test_torch_log_level_quiets_elastic_loggers_but_keeps_errors():
    agent = logging.getLogger("torch.distributed.elastic.agent.server.api")  # sets its own level
    workers = logging.getLogger("torch.distributed.elastic.multiprocessing.api")  # inherits
    saved = [(lg, lg.level) for lg in (agent, workers, logging.getLogger("torch.distributed.elastic"))]
    try:
        build_launch(["--torch-log-level", "error", "train.py"])
        for logger in (agent, workers):
            assert not logger.isEnabledFor(logging.WARNING)
            assert logger.isEnabledFor(logging.ERROR)
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def test_launch_command_maps_keywords_to_torchrun_flags():
    command = launch_command("train.py", "--steps", 3, nproc_per_node=2, standalone=True,
                             max_restarts=0, log_dir=None)
    assert command[-8:] == ["--nproc-per-node", "2", "--standalone", "--max-restarts", "0",
                            "train.py", "--steps", "3"]


def test_launch_command_rejects_unknown_flags():
    with pytest.raises(TypeError, match="nproc_per_nodes"):
        launch_command("train.py", nproc_per_nodes=2)

