"""DDP training over HAL layers, run by the README's own commands: 1 vs 2 processes, crash and restart.

The commands are read out of README.md's Distributed section and run verbatim
(only `python` becomes this interpreter), so the README cannot drift from what works.
"""

import json
import re
import shlex
from pathlib import Path

import pytest

from halkit.distributed.launcher import build_parser

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(240)


def readme_launch_commands() -> list[str]:
    """The `python -m halkit.launch ...` lines of the README's Distributed section, in order."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Distributed (`python -m halkit.launch`)", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.startswith("python -m halkit.launch")]


@pytest.fixture(scope="module")
def runs(module_jobs, tmp_path_factory):
    """The README's two commands, run in a fresh folder, and the same training in one plain process."""
    workdir = tmp_path_factory.mktemp("readme")
    (workdir / "examples").symlink_to(REPO / "examples")
    commands = readme_launch_commands()
    assert len(commands) == 2, commands
    outputs = []
    for command in commands:
        argv = shlex.split(command)
        proc = module_jobs.start_python(*argv[1:], cwd=workdir)  # argv[0] is "python"
        outputs.append(module_jobs.finish(proc, timeout=200))
    one_process = module_jobs.run_python("-m", "halkit.distributed.train", "--metrics", workdir / "one.json",
                                         timeout=120)
    results = {}
    for name, (code, output) in zip(["one", "run", "restarted"], [one_process, *outputs]):
        assert code == 0, output
        results[name] = json.loads((workdir / f"{name}.json").read_text())
        results[name]["output"] = output
    return results


def test_two_process_loss_curve_matches_one_process(runs):
    one, two = runs["one"], runs["run"]
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert len(one["losses"]) == len(two["losses"]) == 40
    assert one["losses"] == pytest.approx(two["losses"], rel=1e-4, abs=1e-6)
    assert one["losses"][-1] < one["losses"][0]  # it does learn


def test_replicas_stay_identical_and_every_rank_reports_speed(runs):
    two = runs["run"]
    assert two["replica_divergence"] == 0.0
    assert [r["rank"] for r in two["per_rank"]] == [0, 1]
    assert all(r["samples_per_s"] > 0 for r in two["per_rank"])


def test_only_rank_0_logs(runs):
    log_lines = [l for l in runs["run"]["output"].splitlines() if l.startswith("[rank")]
    assert log_lines and all(l.startswith("[rank 0/2]") for l in log_lines)


def test_the_readme_restart_crashes_resumes_from_the_checkpoint_and_loses_nothing(runs):
    restarted = runs["restarted"]
    assert "rank 1: simulated crash before step 27" in restarted["output"]
    assert "resumed from ckpt.pt at step 25" in restarted["output"]
    assert restarted["restarts"] == 1
    # Same curve as the uninterrupted run: no step lost, none counted twice.
    assert restarted["losses"] == pytest.approx(runs["run"]["losses"], rel=1e-6, abs=1e-7)


def test_the_help_shows_the_readme_commands():
    help_examples = [line.strip() for line in build_parser().format_help().splitlines()
                     if line.strip().startswith("python -m halkit.launch")]
    assert help_examples == readme_launch_commands()
