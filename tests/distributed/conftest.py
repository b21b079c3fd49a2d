"""Run real launcher processes and prove none of their processes outlive a test.

Every launcher a test starts carries a unique HALKIT_TEST_JOB tag in its
environment; workers and their children inherit it. After each test the
process table is searched for that tag: anything still alive is an orphan,
gets killed (so one failure does not poison the next test) and fails the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
TAG = "HALKIT_TEST_JOB"


def tagged_processes(tag: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TAG) == tag:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


class Jobs:
    """Starts `python -m halkit.launch ...` processes tagged for the orphan check."""

    def __init__(self, tag: str):
        self.tag = tag
        self.started: list[subprocess.Popen] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, TAG: self.tag, **extra}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        return env

    def start(self, *launch_args: str, **extra_env: str) -> subprocess.Popen:
        """`python -m halkit.launch LAUNCH_ARGS...`"""
        return self.start_python("-m", "halkit.launch", *launch_args, **extra_env)

    def start_python(self, *python_args: str, cwd: Path = REPO, **extra_env: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, *map(str, python_args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(**extra_env),
            cwd=cwd,
        )
        self.started.append(proc)
        return proc

    def run(self, *launch_args: str, timeout: float = 60, **extra_env: str):
        """Launch, wait, return (exit code, output)."""
        return self.finish(self.start(*launch_args, **extra_env), timeout)

    def run_python(self, *python_args: str, timeout: float = 60, **extra_env: str):
        """`python PYTHON_ARGS...` without the launcher; returns (exit code, output)."""
        return self.finish(self.start_python(*python_args, **extra_env), timeout)

    @staticmethod
    def finish(proc: subprocess.Popen, timeout: float = 60):
        """Wait for a started process; return (exit code, output)."""
        output, _ = proc.communicate(timeout=timeout)
        return proc.returncode, output

    def alive(self) -> list[psutil.Process]:
        """Every live process of this test's jobs (launchers, workers, their children)."""
        return tagged_processes(self.tag)

    def wait_until_gone(self, grace: float = 10.0) -> list[psutil.Process]:
        """Wait up to `grace` s for every process of this test's jobs to end; return those left."""
        deadline = time.monotonic() + grace
        while (left := self.alive()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    @staticmethod
    def wait_for_files(paths, proc: subprocess.Popen, timeout: float = 30) -> None:
        """Wait until workers signal readiness by creating `paths`."""
        deadline = time.monotonic() + timeout
        while not all(Path(p).exists() for p in paths):
            if proc.poll() is not None:
                raise AssertionError(f"launcher ended early:\n{proc.stdout.read()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {paths}")
            time.sleep(0.05)

    @staticmethod
    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


def _tracked_jobs():
    jobs = Jobs(uuid.uuid4().hex)
    yield jobs
    for proc in jobs.started:  # a test that failed midway may leave its launcher
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert_no_orphans(jobs)


@pytest.fixture
def jobs():
    yield from _tracked_jobs()


@pytest.fixture(scope="module")
def module_jobs():
    """For expensive runs shared by a module's tests; checked for orphans at its end."""
    yield from _tracked_jobs()


def assert_no_orphans(jobs: Jobs, grace: float = 10.0) -> None:
    left = [(p, _describe(p)) for p in jobs.wait_until_gone(grace)]
    for proc, _ in left:
        proc.kill()
    assert not left, f"orphan processes survived the test: {[d for _, d in left]}"


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())}"
    except psutil.Error:
        return str(proc.pid)
