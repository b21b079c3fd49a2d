"""python -m halkit.bench: exit codes, output files, messages."""
import json
import subprocess
import sys

import pytest

from halkit.bench.__main__ import main

TINY = ["--shapes", "8x8x8", "--ops", "matmul", "overhead", "--threads", "1", "--repeats", "1",
        "--min-time", "0.0005", "--no-progress"]


def bench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "halkit.bench", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=240)


def test_run_prints_a_table_and_writes_json_and_csv(tmp_path):
    done = bench(*TINY, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "x numpy" in done.stdout and "peak at 1 thread(s)" in done.stdout
    rows = json.loads((tmp_path / "out" / "bench.json").read_text())["rows"]
    assert {r["op"] for r in rows} == {"matmul", "overhead"}
    assert (tmp_path / "out" / "bench.csv").read_text().startswith("op,group,m,n,k,backend")


@pytest.mark.slow
def test_quick_sweep_runs(tmp_path):
    done = bench("--quick", "--no-progress", "--repeats", "1", "--min-time", "0.001", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout and (tmp_path / "bench.json").exists()


def test_unknown_backend_exits_2_listing_the_available_ones(tmp_path):
    done = bench(*TINY, "--backends", "numpy", "tpu", "--no-save")
    assert done.returncode == 2
    assert "unknown backend 'tpu'" in done.stderr and "'numpy'" in done.stderr and "'torch'" in done.stderr


@pytest.mark.parametrize("args", [["--shapes", "8x8"], ["--threads", "0"], ["--ops", "conv"],
                                  ["--dtype", "int8"], ["--min-time", "0"]])
def test_bad_usage_exits_2(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--no-save", *args])  # in-process: argparse rejects these before anything is measured
    assert exit_.value.code == 2 and "error" in capsys.readouterr().err


def test_help_exits_0():
    done = bench("--help")
    assert done.returncode == 0 and "--quick" in done.stdout
