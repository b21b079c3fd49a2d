"""`halkit.distributed.launch()` — the notebook entry: failures raise, timeouts stop everything."""

import time
from pathlib import Path

import pytest

from halkit.distributed import LaunchError, launch

MISBEHAVE = Path(__file__).parent / "scripts" / "misbehave.py"
pytestmark = pytest.mark.timeout(90)


def test_failed_job_raises_with_the_failing_rank_in_the_message(jobs, tmp_path):
    with pytest.raises(LaunchError, match="failed with exit code 3") as failed:
        launch(MISBEHAVE, "exit3", tmp_path, nproc_per_node=2, echo=False, env=jobs.env())
    assert failed.value.result.returncode == 3
    assert "worker rank 1" in failed.value.result.output


def test_timeout_stops_the_launcher_and_its_workers(jobs, tmp_path):
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        launch(MISBEHAVE, "sleep", tmp_path, nproc_per_node=2, echo=False, timeout=8,
               env=jobs.env())
    assert time.monotonic() - began < 30
    # the `jobs` fixture then checks that no tagged process is left
