"""`halkit.distributed.launch()` — the notebook entry: failures raise, timeouts stop everything."""

import re
import time
from pathlib import Path

import pytest

from halkit.distributed import LaunchError, launch

MISBEHAVE = Path(__file__).parent / "scripts" / "misbehave.py"
pytestmark = pytest.mark.timeout(90)


def test_uncaught_exception_raises_with_rank_and_root_cause_traceback(jobs, tmp_path):
    with pytest.raises(LaunchError, match="worker rank 1 .* failed with exit code 1") as failed:
        launch(MISBEHAVE, "raise", tmp_path, nproc_per_node=2, echo=False, env=jobs.env())
    assert failed.value.result.returncode == 1
    root_cause = failed.value.result.output.split("Root Cause")[1]
    assert "rank      : 1" in root_cause
    assert "ValueError: injected failure on rank 1" in root_cause
    assert "misbehave.py" in root_cause  # the traceback reaches into the user's script
    # torch elastic's routine notices (raw "W1201 12:00:00.000 pid file:line] ..." lines) are
    # left out; its error lines and the failure report stay.
    lines = failed.value.result.output.splitlines()
    assert not [line for line in lines if re.match(r"[WI]\d{4} ", line)]
    assert [line for line in lines if re.match(r"E\d{4} .*failed \(exitcode: 1\)", line)]


def test_timeout_stops_the_launcher_and_its_workers(jobs, tmp_path):
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        launch(MISBEHAVE, "sleep", tmp_path, nproc_per_node=2, echo=False, timeout=6,
               env=jobs.env())
    assert time.monotonic() - began < 30
    # the `jobs` fixture then checks that no tagged process is left
