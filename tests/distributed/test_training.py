"""DDP training over HAL layers: 1 vs 2 processes, and restart from a checkpoint."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "train_ddp.py"
STEPS = ["--steps", "12", "--log-every", "4"]  # 12 steps = most of an epoch of 16
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def runs(module_jobs, tmp_path_factory):
    """The same training (seed, global batch) in 1 plain process and on 2 launched workers."""
    out = tmp_path_factory.mktemp("training")
    one_process = module_jobs.run_python(
        "-m", "halkit.distributed.train", *STEPS, "--metrics", out / "metrics1.json")
    two_workers = module_jobs.run(
        "--nproc-per-node", 2, EXAMPLE, *STEPS, "--metrics", out / "metrics2.json")
    metrics = {}
    for nproc, (code, output) in [(1, one_process), (2, two_workers)]:
        assert code == 0, output
        metrics[nproc] = json.loads((out / f"metrics{nproc}.json").read_text())
        metrics[nproc]["output"] = output
    return metrics


def test_two_process_loss_curve_matches_one_process(runs):
    one, two = runs[1], runs[2]
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert len(one["losses"]) == len(two["losses"]) == 12
    assert one["losses"] == pytest.approx(two["losses"], rel=1e-4, abs=1e-6)
    assert one["losses"][-1] < one["losses"][0]  # it does learn


def test_replicas_stay_identical_and_every_rank_reports_speed(runs):
    two = runs[2]
    assert two["replica_divergence"] == 0.0
    assert [r["rank"] for r in two["per_rank"]] == [0, 1]
    assert all(r["samples_per_s"] > 0 for r in two["per_rank"])


def test_only_rank_0_logs(runs):
    log_lines = [l for l in runs[2]["output"].splitlines() if l.startswith("[rank")]
    assert log_lines and all(l.startswith("[rank 0/2]") for l in log_lines)


def test_restart_resumes_from_checkpoint_and_loses_nothing(jobs, runs, tmp_path):
    metrics = tmp_path / "metrics.json"
    code, output = jobs.run(
        "--nproc-per-node", 2, "--max-restarts", 1, EXAMPLE, *STEPS,
        "--checkpoint", tmp_path / "ckpt.pt", "--checkpoint-every", 5,
        "--crash-at-step", 7, "--metrics", metrics,
    )
    assert code == 0, output
    assert "simulated crash before step 7" in output
    assert "resumed from" in output and "at step 5" in output
    resumed = json.loads(metrics.read_text())
    assert resumed["restarts"] == 1
    # Same curve as the uninterrupted run: no step lost, none counted twice.
    assert resumed["losses"] == pytest.approx(runs[2]["losses"], rel=1e-6, abs=1e-7)
