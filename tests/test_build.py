"""`python -m halkit.build`: failures are explained and leave the numpy backend working; progress is shown,
rebuilds are cheap and say "up to date", concurrent builds take turns."""
import os
import re
import subprocess
import sys
import time
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
    assert "CMake configure of halkit._native failed" in message and "deliberately broken" in message
    assert "how to fix" in message
    assert "numpy" in hal.backends()


def test_missing_sources_say_to_use_a_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(_buildtool, "SOURCE_DIR", tmp_path / "nowhere")
    with pytest.raises(hal.BuildError, match=r"C\+\+ sources not found at .*source checkout"):
        halkit.build()


def tiny_target(tmp_path) -> _buildtool.Target:
    """A two-file CMake project (compiles in about a second) standing in for cpp/."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.cpp").write_text("int a() { return 1; }\n")
    (source / "b.cpp").write_text("int b() { return 2; }\n")
    (source / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(tiny CXX)\n"
        "add_library(tiny SHARED a.cpp b.cpp)\n"
        f"set_target_properties(tiny PROPERTIES LIBRARY_OUTPUT_DIRECTORY {tmp_path / 'out'})\n"
    )
    return _buildtool.Target("tiny", source, tmp_path / "build" / "tiny", tmp_path / "out" / "libtiny.so")


def test_a_build_shows_progress_and_a_rebuild_says_up_to_date(tmp_path, capsys):
    target = tiny_target(tmp_path)
    assert _buildtool.build_target(target) is True
    first = capsys.readouterr().out
    progress = [line for line in first.splitlines() if re.match(r"\[\s*\d+(/\d+|%)\]", line)]
    assert any("a.cpp" in line for line in progress) and any("b.cpp" in line for line in progress), first
    assert f"built {target.module} in " in first

    assert _buildtool.build_target(target) is False
    again = capsys.readouterr().out
    assert "tiny is up to date (nothing changed since the last build)" in again
    assert not [line for line in again.splitlines() if "Building CXX" in line]


def test_a_second_build_waits_for_the_first(tmp_path):
    """While one build holds the checkout's lock, another waits (and says so), then goes on."""
    target = tiny_target(tmp_path)
    build_root = tmp_path / "build"
    script = (
        "import sys, pathlib\nfrom halkit import _buildtool as b\n"
        f"t = b.Target('tiny', pathlib.Path({str(target.source_dir)!r}), pathlib.Path({str(target.build_dir)!r}), "
        f"pathlib.Path({str(target.module)!r}))\n"
        f"with b.build_lock(pathlib.Path({str(build_root)!r})):\n    b.build_target(t)\n"
    )
    with _buildtool.build_lock(build_root):  # the "first" build
        second = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        first_line = second.stdout.readline()
        assert f"another halkit build is running in this checkout (pid {os.getpid()}); waiting" in first_line
        time.sleep(0.5)
        assert second.poll() is None  # still waiting: it has not touched the build directory
        assert not target.build_dir.exists()
    rest, _ = second.communicate(timeout=120)
    assert second.returncode == 0, rest
    assert f"built {target.module}" in rest


def test_help_text_has_no_markup(capsys):
    with pytest.raises(SystemExit):
        _buildtool.main(["--help"])
    text = capsys.readouterr().out
    assert "`" not in text and "halkit/_native*.so" in text and "up to date" in text


@pytest.mark.skipif("native" not in hal.backends(), reason="native extension not built in this checkout")
def test_rebuild_without_changes_says_up_to_date():
    out = subprocess.run([sys.executable, "-m", "halkit.build"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "halkit._native is up to date" in out.stdout, out.stdout
