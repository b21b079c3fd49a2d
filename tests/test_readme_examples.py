"""The README's Python examples run as printed (issue 15: examples in the README are tested).

The ```python blocks run in order in one fresh interpreter, as a reader pasting them into one session
would; the distributed commands are run by tests/distributed/test_training.py."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.MULTILINE | re.DOTALL)


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 3


def test_the_python_examples_run_in_order(tmp_path):
    script = "\n".join(python_blocks()) + "\nprint('README examples ran')\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "README examples ran" in out.stdout
