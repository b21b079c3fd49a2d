"""`python -m halkit.build`: failures are explained and leave the numpy backend working; rebuilds are cheap."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import halkit
import halkit.hal as hal
from halkit import _buildtool

VENV_BIN = str(Path(sys.executable).parent)


def test_missing_compiler_is_explained_and_numpy_keeps_working():
    code = (
        "import halkit, halkit.hal as h\n"
        "try:\n    halkit.build()\nexcept h.BuildError as e:\n    print('ERROR:', e)\n"
        "print('BACKENDS:', h.backends())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CXX"}
    env["PATH"] = VENV_BIN  # python, cmake and ninja stay reachable; no C++ compiler does
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "ERROR: no C++ compiler found" in out.stdout and "apt-get install g++" in out.stdout, out.stderr
    assert "'numpy'" in out.stdout.split("BACKENDS:")[1]


def test_cli_exits_nonzero_with_the_reason():
    env = {**{k: v for k, v in os.environ.items() if k != "CXX"}, "PATH": VENV_BIN}
    out = subprocess.run([sys.executable, "-m", "halkit.build"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "halkit build failed: no C++ compiler found" in out.stderr


def test_cmake_error_names_the_step_and_the_fix(tmp_path, monkeypatch):
    broken = tmp_path / "cpp"
    broken.mkdir()
    (broken / "CMakeLists.txt").write_text(
        'cmake_minimum_required(VERSION 3.18)\nproject(broken CXX)\nmessage(FATAL_ERROR "deliberately broken")\n'
    )
    monkeypatch.setattr(_buildtool, "SOURCE_DIR", broken)
    monkeypatch.setattr(_buildtool, "BUILD_ROOT", tmp_path / "build")
    with pytest.raises(hal.BuildError) as info:
        halkit.build()
    message = str(info.value)
    assert "CMake configure failed" in message and "deliberately broken" in message and "how to fix" in message
    assert "numpy" in hal.backends()


def test_missing_sources_say_to_use_a_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(_buildtool, "SOURCE_DIR", tmp_path / "nowhere")
    with pytest.raises(hal.BuildError, match=r"C\+\+ sources not found at .*source checkout"):
        halkit.build()


@pytest.mark.skipif("native" not in hal.backends(), reason="native extension not built in this checkout")
def test_rebuild_without_changes_compiles_nothing():
    out = subprocess.run([sys.executable, "-m", "halkit.build", "--verbose"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "no work to do" in out.stdout or "Nothing to be done" in out.stdout, out.stdout
