"""Two real workers: their environment, and DDP's gloo all-reduce through HAL layers."""

import json
from pathlib import Path

import pytest

from halkit.distributed.launcher import usable_cores

REPORT_WORKER = Path(__file__).parent / "scripts" / "report_worker.py"
pytestmark = pytest.mark.timeout(90)


def read_reports(out_dir: Path, world_size: int) -> list[dict]:
    return [json.loads((out_dir / f"rank{r}.json").read_text()) for r in range(world_size)]


def test_two_workers_get_rank_env_hal_backend_and_a_core_share(jobs, tmp_path):
    code, output, _ = jobs.run("--nproc-per-node", "2", "--hal-backend", "numpy",
                               REPORT_WORKER, tmp_path)
    assert code == 0, output
    threads = str(max(1, usable_cores() // 2))
    for rank, report in enumerate(read_reports(tmp_path, 2)):
        env = report["env"]
        assert (env["RANK"], env["LOCAL_RANK"], env["WORLD_SIZE"]) == (str(rank), str(rank), "2")
        assert env["MASTER_ADDR"] == "127.0.0.1" and int(env["MASTER_PORT"]) > 0
        assert env["HALKIT_BACKEND"] == report["hal_backend"] == "numpy"
        assert env["HALKIT_NUM_THREADS"] == env["OMP_NUM_THREADS"] == threads
        assert report["hal_threads"] == report["torch_threads"] == int(threads)


def test_ddp_all_reduce_through_hal_layers_gives_the_full_batch_gradient(jobs, tmp_path):
    code, output, _ = jobs.run("--nproc-per-node", "2", REPORT_WORKER, tmp_path)
    assert code == 0, output
    for report in read_reports(tmp_path, 2):
        assert report["uses_hal_linear"], report["layer_types"]
        assert report["grad_error"] < 1e-5
