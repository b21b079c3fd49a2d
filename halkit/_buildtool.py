"""Compile the C++ in cpp/ into halkit's extension modules with CMake (and pybind11).

Two targets: cpp/ -> halkit/_native*.so (the kernels of the "native" HAL
backend), then cpp/torch_device/ -> halkit/torch/device/_C*.so (the C++ half of
the torch device "halkit", linked against the installed torch).

halkit.build() (notebooks) and python -m halkit.build (shell) print every
command they run and the compiler's progress, one [n/m] line per file. Re-running
is cheap: CMake and the build tool redo only what changed, and a run that
changed nothing says "up to date". Builds in one checkout take turns: a second
one waits for the first (a lock file in build/), then usually finds nothing
left to do. A failure raises BuildError naming the step and the fix; nothing
already imported is touched, so the numpy backend keeps working.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .hal.errors import BuildError
from .hal.threads import usable_cores

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_DIR = PACKAGE_DIR.parent / "cpp"
BUILD_ROOT = PACKAGE_DIR.parent / "build"
LOCK_NAME = "halkit-build.lock"
# A progress line of ninja ("[3/12] Building CXX object ...") or make ("[ 25%] ...").
_PROGRESS = re.compile(r"^\[\s*\d+(/\d+|%)\]")


@dataclass(frozen=True)
class Target:
    """One CMake project and the module it writes."""

    name: str  # what the messages call it, e.g. "halkit._native"
    source_dir: Path  # holds its CMakeLists.txt
    build_dir: Path
    module: Path  # the file CMake writes; checked after the build
    cmake_args: tuple[str, ...] = ()  # its own -D options


def native_target(build_type: str) -> Target:
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return Target(
        name="halkit._native",
        source_dir=SOURCE_DIR,
        build_dir=BUILD_ROOT / f"native-{build_type.lower()}",
        module=PACKAGE_DIR / f"_native{suffix}",
        cmake_args=(f"-Dpybind11_DIR={_pybind11_cmake_dir()}", f"-DHALKIT_OUTPUT_DIR={PACKAGE_DIR}"),
    )


def torch_device_target(build_type: str) -> Target:
    """cpp/torch_device → halkit/torch/device/_C*.so: the C++ half of the torch device "halkit" (links torch)."""
    try:
        import torch.utils
    except ImportError as exc:
        raise BuildError(f"torch is not importable ({exc}): `pip install -e .`, then rebuild") from exc
    output = PACKAGE_DIR / "torch" / "device"
    return Target(
        name="halkit.torch.device._C",
        source_dir=SOURCE_DIR / "torch_device",
        build_dir=BUILD_ROOT / f"torch-device-{build_type.lower()}",
        module=output / f"_C{sysconfig.get_config_var('EXT_SUFFIX')}",
        cmake_args=(f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
                    f"-DHALKIT_TORCH_DEVICE_OUTPUT_DIR={output}"),
    )


def _find_compiler() -> str:
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    raise BuildError(
        "no C++ compiler found (tried $CXX, c++, g++, clang++): install one "
        "(Debian/Ubuntu: `apt-get install g++`; macOS: `xcode-select --install`) or set CXX. "
        "The numpy backend keeps working meanwhile."
    )


def _find_cmake() -> str:
    found = shutil.which("cmake")
    if found:
        return found
    raise BuildError("cmake not found on PATH: `pip install cmake` (or your OS package), then rebuild")


def _pybind11_cmake_dir() -> str:
    try:
        import pybind11
    except ImportError as exc:
        raise BuildError("pybind11 is not installed: `pip install pybind11`, then rebuild") from exc
    return pybind11.get_cmake_dir()


def _run(cmd: list[str], step: str, verbose: bool) -> None:
    """Run a build step, streaming its progress lines (all of its output when verbose)."""
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    for line in proc.stdout:
        output.append(line)
        if verbose or _PROGRESS.match(line):
            print(line, end="", flush=True)
    if proc.wait() != 0:
        tail = "".join(output[-40:]).rstrip("\n")
        raise BuildError(
            f"{step} failed (exit {proc.returncode}) running:\n  {' '.join(cmd)}\n--- last output ---\n{tail}\n"
            "--- how to fix ---\nRead the first error above; the usual causes are a missing compiler "
            "(`apt-get install g++`), an old CMake (`pip install -U cmake`) or a stale cache "
            "(`python -m halkit.build --clean`). The numpy backend keeps working meanwhile."
        )


@contextmanager
def build_lock(build_root: Path):
    """Hold the checkout's build lock; wait (saying so) while another build holds it.

    flock is released by the kernel when its holder exits, however it exits,
    so a killed build never leaves a stale lock behind.
    """
    build_root.mkdir(parents=True, exist_ok=True)
    path = build_root / LOCK_NAME
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            print(f"another halkit build is running in this checkout ({holder}); waiting for it to finish ...",
                  flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        yield


def build_target(target: Target, build_type: str = "Release", *, clean: bool = False,
                 verbose: bool = False) -> bool:
    """Configure and compile one target; True when its module was (re)written, False when up to date.

    The caller holds the build lock.
    """
    if not (target.source_dir / "CMakeLists.txt").is_file():
        raise BuildError(
            f"C++ sources not found at {target.source_dir}: build from a source checkout "
            "(git clone, then `pip install -e .`)"
        )
    compiler, cmake = _find_compiler(), _find_cmake()
    if clean and target.build_dir.exists():
        print(f"removing {target.build_dir}", flush=True)
        shutil.rmtree(target.build_dir)
    configure = [
        cmake, "-S", str(target.source_dir), "-B", str(target.build_dir),
        f"-DCMAKE_BUILD_TYPE={build_type}",
        f"-DCMAKE_CXX_COMPILER={compiler}",
        f"-DPython_EXECUTABLE={sys.executable}",
        *target.cmake_args,
    ]
    if shutil.which("ninja") and not (target.build_dir / "Makefile").exists():
        configure += ["-G", "Ninja"]
    before = _mtime(target.module)
    started = time.perf_counter()
    _run(configure, f"CMake configure of {target.name}", verbose)
    _run([cmake, "--build", str(target.build_dir), "--parallel", str(usable_cores())],
         f"compile of {target.name}", verbose)
    if not target.module.is_file():
        raise BuildError(f"the build finished but {target.module} is missing: check the output directory "
                         f"set in {target.source_dir / 'CMakeLists.txt'}")
    if _mtime(target.module) == before:
        print(f"{target.name} is up to date (nothing changed since the last build): {target.module}", flush=True)
        return False
    print(f"built {target.module} in {time.perf_counter() - started:.1f} s", flush=True)
    return True


def build(build_type: str = "Release", *, clean: bool = False, verbose: bool = False) -> Path:
    """Build both targets (the native kernels, then the torch device); returns the native module's path.

    For an AddressSanitizer build, see cpp/README.md: it builds into a copy of
    the package so the module in use here is never replaced by an instrumented one.
    """
    target = native_target(build_type)
    with build_lock(BUILD_ROOT):
        rebuilt = build_target(target, build_type, clean=clean, verbose=verbose)
        build_target(torch_device_target(build_type), build_type, clean=clean, verbose=verbose)
    if rebuilt and "halkit._native" in sys.modules:
        print("note: halkit._native was already imported; restart Python to load the new build", flush=True)
    from .hal import refresh

    refresh()  # let a process that saw 'not built' pick the new module up
    return target.module


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m halkit.build",
        description="Compile the C++ in cpp/ into halkit/_native*.so (the native HAL kernels) and "
        "halkit/torch/device/_C*.so (the torch device), printing each command and one progress "
        "line per compiled file. Only what changed is rebuilt; a run with nothing to do says "
        "'up to date'. Concurrent builds in one checkout wait for each other.",
    )
    parser.add_argument("--build-type", default="Release", choices=["Release", "RelWithDebInfo", "Debug"],
                        help="CMake build type (default: Release)")
    parser.add_argument("--clean", action="store_true", help="delete the build directory first")
    parser.add_argument("-v", "--verbose", action="store_true", help="show all of the compiler's output")
    args = parser.parse_args(argv)
    try:
        build(args.build_type, clean=args.clean, verbose=args.verbose)
    except BuildError as exc:
        print(f"halkit build failed: {exc}", file=sys.stderr)
        return 1
    return 0
