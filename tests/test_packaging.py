"""Install files agree with each other; notebooks are committed without outputs."""
import json
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def conda_pip_requirements():
    """The `pip:` list of environment.yml (a flat YAML list; no YAML parser needed)."""
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    return {line.strip()[2:] for line in lines[start + 1 :] if line.strip().startswith("- ")}


def test_torch_is_pinned_exactly():
    assert "torch==2.13.0" in pyproject()["project"]["dependencies"]


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = pyproject()["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    assert conda_pip_requirements() == declared


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)


def test_committed_notebooks_have_no_outputs():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    dirty = []
    for path in tracked:
        cells = json.loads((ROOT / path).read_text())["cells"]
        if any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code"):
            dirty.append(path)
    assert not dirty, f"strip outputs before committing: jupyter nbconvert --clear-output --inplace {' '.join(dirty)}"
