"""Two real workers: their environment, and DDP's gloo all-reduce through HAL layers."""

import json
from pathlib import Path

import pytest

from halkit.hal.threads import usable_cores

REPORT_WORKER = Path(__file__).parent / "scripts" / "report_worker.py"
pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def reports(module_jobs, tmp_path_factory):
    """What each of 2 workers saw (one launch shared by this module's tests)."""
    out = tmp_path_factory.mktemp("reports")
    code, output = module_jobs.run("--nproc-per-node", "2", "--hal-backend", "numpy",
                                      REPORT_WORKER, out)
    assert code == 0, output
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_each_worker_gets_rank_env_hal_backend_and_a_core_share(reports):
    threads = str(max(1, usable_cores() // 2))
    for rank, report in enumerate(reports):
        env = report["env"]
        assert (env["RANK"], env["LOCAL_RANK"], env["WORLD_SIZE"]) == (str(rank), str(rank), "2")
        assert env["MASTER_ADDR"] == "127.0.0.1" and int(env["MASTER_PORT"]) > 0
        assert env["HALKIT_BACKEND"] == report["hal_backend"] == "numpy"
        assert env["HALKIT_NUM_THREADS"] == env["OMP_NUM_THREADS"] == threads
        assert report["hal_threads"] == report["torch_threads"] == int(threads)


def test_ddp_all_reduce_through_hal_layers_gives_the_full_batch_gradient(reports):
    for report in reports:
        assert report["uses_hal_linear"], report["layer_types"]
        assert report["grad_error"] < 1e-5
