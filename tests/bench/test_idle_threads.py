"""The bench CLI runs with idle BLAS/OpenMP threads asleep, unless the user chose otherwise."""
import os
import subprocess
import sys

import pytest

from halkit.bench import idle_threads

ARGS = ["-m", "halkit.bench", "--quick", "--shapes", "8x8x8", "--backends", "numpy", "--threads", "1",
        "--no-save", "--no-progress"]


def bench_header(**env) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in idle_threads.QUIET}
    out = subprocess.run([sys.executable, *ARGS], capture_output=True, text=True, env={**clean, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    return next(line for line in out.stdout.splitlines() if line.startswith("# idle_threads:"))


@pytest.mark.timeout(240)
def test_cli_sets_the_quiet_policies_and_keeps_the_users_own():
    # one real command line: the unset variable is filled in, the user's own value is kept
    assert bench_header(OMP_WAIT_POLICY="ACTIVE") == "# idle_threads: OPENBLAS_THREAD_TIMEOUT=4, OMP_WAIT_POLICY=ACTIVE"


def test_missing_lists_only_unset_variables(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    assert idle_threads.missing() == {"OPENBLAS_THREAD_TIMEOUT": "4"}
