"""Failure semantics: a failing rank stops the job fast and is named; signals stop
every worker; nothing survives the launcher (the `jobs` fixture checks the
process table after each test)."""

import signal
import time
from pathlib import Path

import pytest

MISBEHAVE = Path(__file__).parent / "scripts" / "misbehave.py"
pytestmark = pytest.mark.timeout(90)


def test_rank_exiting_with_3_stops_the_job_within_10s_and_is_named(jobs, tmp_path):
    code, output = jobs.run("--nproc-per-node", "2", MISBEHAVE, "exit3", tmp_path)
    finished = time.time()
    failing_at = float((tmp_path / "failing_at").read_text())
    assert code == 3, output  # the failing worker's own exit code comes through
    assert finished - failing_at < 10
    assert "worker rank 1 (local rank 1" in output and "failed with exit code 3" in output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_launcher_stops_hanging_workers_and_their_children(jobs, tmp_path, sig):
    launcher = jobs.start("--nproc-per-node", "2", MISBEHAVE, "hang", tmp_path)
    jobs.wait_for_files([tmp_path / "ready.0", tmp_path / "ready.1"], launcher)
    assert len(jobs.alive()) >= 5  # launcher + 2 workers + 2 grandchildren
    launcher.send_signal(sig)
    output, _ = launcher.communicate(timeout=20)
    assert launcher.returncode == 128 + sig, output
    assert f"got {sig.name}, stopped all workers" in output


def test_workers_and_their_children_die_with_a_killed_launcher(jobs, tmp_path):
    # SIGKILL gives the launcher no chance to clean up: the kernel kills the
    # workers (PR_SET_PDEATHSIG), each worker's watcher stops its process group.
    launcher = jobs.start("--nproc-per-node", "2", MISBEHAVE, "hang", tmp_path)
    jobs.wait_for_files([tmp_path / "ready.0", tmp_path / "ready.1"], launcher)
    grandchildren = [p for p in jobs.alive() if "time.sleep(600)" in " ".join(p.cmdline())]
    assert len(grandchildren) == 2
    launcher.kill()
    launcher.wait(10)
    left = jobs.wait_until_gone(grace=10)
    assert not left, [p.cmdline() for p in left]
