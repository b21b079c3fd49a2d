"""The example driver as a product: at most 200 lines, installable, and found through the entry point."""
import os
import shutil
import subprocess
import sys

from .conftest import EXAMPLE


def test_the_example_driver_is_one_file_of_at_most_200_lines():
    assert len(EXAMPLE.read_text().splitlines()) <= 200


def test_installing_the_example_registers_it_through_the_entry_point(tmp_path):
    """pip installs examples/devices (copied: the build writes egg-info next to the sources) into a scratch
    target; a fresh interpreter with it on its path lists "arena" and runs an op there."""
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE.parent, source, ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--no-index", "--target", str(site), str(source)], capture_output=True, text=True,
                             timeout=300)
    assert install.returncode == 0, install.stderr
    code = ("import numpy as np, halkit.hal as hal\n"
            "assert 'arena' in hal.backends(), hal.backends()\n"
            "y = hal.relu(hal.to_device(np.array([-1.0, 2.0], np.float32), 'arena'))\n"
            "print(y.device, y.numpy().tolist())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLE.parents[2])])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "arena [0.0, 2.0]"
