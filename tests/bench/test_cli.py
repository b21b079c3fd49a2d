"""python -m halkit.bench: exit codes, output files, messages."""
import argparse
import json

import pytest

from halkit.bench.__main__ import main, parser

TINY = ["--shapes", "8x8x8", "--ops", "matmul", "overhead", "--threads", "1", "--repeats", "1",
        "--min-time", "0.0005", "--no-progress"]


# In-process (main(argv) never re-executes): one interpreter, no second torch import per test.
# tests/bench/test_idle_threads.py runs the real command line in a subprocess.


def test_run_prints_a_table_and_writes_json_and_csv(tmp_path, capsys):
    assert main([*TINY, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "x numpy" in out and "peak at 1 thread(s)" in out and "machine load" in out
    rows = json.loads((tmp_path / "out" / "bench.json").read_text())["rows"]
    assert {r["op"] for r in rows} == {"matmul", "overhead"}
    assert (tmp_path / "out" / "bench.csv").read_text().startswith("op,group,m,n,k,backend")


@pytest.mark.slow
def test_quick_sweep_runs(tmp_path, capsys):
    assert main(["--quick", "--no-progress", "--repeats", "1", "--min-time", "0.001", "--out", str(tmp_path)]) == 0
    assert "--quick" in capsys.readouterr().out and (tmp_path / "bench.json").exists()


def test_unknown_backend_exits_2_listing_the_available_ones(capsys):
    assert main([*TINY, "--backends", "numpy", "tpu", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'tpu'" in err and "'numpy'" in err and "'torch'" in err


@pytest.mark.parametrize("args", [["--shapes", "8x8"], ["--threads", "0"], ["--ops", "conv"],
                                  ["--dtype", "int8"], ["--min-time", "0"], ["models", "--models", "vgg"],
                                  ["models", "--routes", "tvm"], ["models", "--autocast", "float64"],
                                  ["overhead", "--repeats", "0"]])
def test_bad_usage_exits_2(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--no-save", *args])  # in-process: argparse rejects these before anything is measured
    assert exit_.value.code == 2 and "error" in capsys.readouterr().err


def test_help_exits_0_and_names_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "--quick" in out
    assert "{models,overhead}" in out and "examples:" in out


def _parsers():
    top = parser()
    subcommands = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"bench": top, **subcommands.choices}


@pytest.mark.parametrize("command", ["bench", "models", "overhead"])
def test_help_text_is_complete_and_literal(command):
    p = _parsers()[command]
    text = p.format_help()
    assert "%%" not in text
    if command == "bench":
        assert "% of" in text  # the literal percent sign, written once
    undocumented = [a.option_strings for a in p._actions if a.option_strings and not a.help]
    assert not undocumented, f"options without help: {undocumented}"


def test_models_and_overhead_commands_print_tables_and_write_files(tmp_path, capsys):
    code = main(["models", "--size", "tiny", "--models", "resnet18", "--modes", "forward", "--routes", "convert",
                 "--threads", "1", "--repeats", "3", "--min-time", "0.001", "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "route convert" in out and "time ratio" in out and "forward+backward 1x64->64" in out
    for stem in ("models", "overhead"):
        assert (tmp_path / f"{stem}.json").exists() and (tmp_path / f"{stem}.csv").exists()
    assert main(["overhead", "--quick", "--threads", "1", "--no-save", "--profile"]) == 0
    out = capsys.readouterr().out
    assert "cProfile of a batch-1 forward" in out and "tottime" in out and "forward" in out
