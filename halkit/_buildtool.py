"""Compile the C++ kernels in cpp/ into ``halkit/_native*.so`` with CMake + pybind11.

``halkit.build()`` (notebooks) and ``python -m halkit.build`` (shell) print
every command they run. Re-running is cheap: CMake and the build tool only
redo what changed. A failure raises :class:`~halkit.hal.errors.BuildError`
naming the step and the fix; nothing already imported is touched, so the
numpy backend keeps working.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from .hal.errors import BuildError

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_DIR = PACKAGE_DIR.parent / "cpp"
BUILD_ROOT = PACKAGE_DIR.parent / "build"


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
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if verbose and proc.stdout:
        print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise BuildError(
            f"{step} failed (exit {proc.returncode}) running:\n  {' '.join(cmd)}\n--- last output ---\n{tail}\n"
            "--- how to fix ---\nRead the first error above; the usual causes are a missing compiler "
            "(`apt-get install g++`), an old CMake (`pip install -U cmake`) or a stale cache "
            "(`python -m halkit.build --clean`). The numpy backend keeps working meanwhile."
        )


def build(build_type: str = "Release", *, clean: bool = False, verbose: bool = False) -> Path:
    """Build the native extension; returns the path of the built module.

    For an AddressSanitizer build, see cpp/README.md: it builds into a copy of
    the package so the module in use here is never replaced by an instrumented one.
    """
    if not (SOURCE_DIR / "CMakeLists.txt").is_file():
        raise BuildError(
            f"C++ sources not found at {SOURCE_DIR}: build from a source checkout "
            "(git clone, then `pip install -e .`)"
        )
    compiler, cmake = _find_compiler(), _find_cmake()
    build_dir = BUILD_ROOT / f"native-{build_type.lower()}"
    if clean and build_dir.exists():
        print(f"removing {build_dir}", flush=True)
        shutil.rmtree(build_dir)
    configure = [
        cmake, "-S", str(SOURCE_DIR), "-B", str(build_dir),
        f"-DCMAKE_BUILD_TYPE={build_type}",
        f"-DCMAKE_CXX_COMPILER={compiler}",
        f"-Dpybind11_DIR={_pybind11_cmake_dir()}",
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-DHALKIT_OUTPUT_DIR={PACKAGE_DIR}",
    ]
    if shutil.which("ninja") and not (build_dir / "Makefile").exists():
        configure += ["-G", "Ninja"]
    _run(configure, "CMake configure", verbose)
    _run([cmake, "--build", str(build_dir), "--parallel", str(os.cpu_count() or 1)], "compile", verbose)

    module = PACKAGE_DIR / f"_native{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not module.is_file():
        raise BuildError(f"the build finished but {module} is missing: check HALKIT_OUTPUT_DIR in cpp/CMakeLists.txt")
    print(f"built {module}", flush=True)
    if "halkit._native" in sys.modules:
        print("note: halkit._native was already imported; restart Python to load the new build", flush=True)
    _build_torch_device(build_type, clean=clean, verbose=verbose, compiler=compiler, cmake=cmake)
    from .hal import refresh

    refresh()  # let a process that saw 'not built' pick the new module up
    return module


def _build_torch_device(build_type: str, *, clean: bool, verbose: bool, compiler: str, cmake: str) -> Path:
    """cpp/torch_device → halkit/torch/device/_C*.so: the C++ half of the torch device "halkit" (links torch)."""
    try:
        import torch.utils
    except ImportError as exc:
        raise BuildError(f"torch is not importable ({exc}): `pip install -e .`, then rebuild") from exc
    source, output = SOURCE_DIR / "torch_device", PACKAGE_DIR / "torch" / "device"
    build_dir = BUILD_ROOT / f"torch-device-{build_type.lower()}"
    if clean and build_dir.exists():
        shutil.rmtree(build_dir)
    configure = [cmake, "-S", str(source), "-B", str(build_dir), f"-DCMAKE_BUILD_TYPE={build_type}",
                 f"-DCMAKE_CXX_COMPILER={compiler}", f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
                 f"-DPython_EXECUTABLE={sys.executable}", f"-DHALKIT_TORCH_DEVICE_OUTPUT_DIR={output}"]
    if shutil.which("ninja") and not (build_dir / "Makefile").exists():
        configure += ["-G", "Ninja"]
    _run(configure, "CMake configure (torch device)", verbose)
    _run([cmake, "--build", str(build_dir), "--parallel", str(os.cpu_count() or 1)], "compile (torch device)", verbose)
    module = output / f"_C{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not module.is_file():
        raise BuildError(f"the torch device build finished but {module} is missing: check cpp/torch_device/CMakeLists.txt")
    print(f"built {module}", flush=True)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halkit.build", description=__doc__.splitlines()[0])
    parser.add_argument("--build-type", default="Release", choices=["Release", "RelWithDebInfo", "Debug"])
    parser.add_argument("--clean", action="store_true", help="delete the build directory first")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the compiler's output")
    args = parser.parse_args(argv)
    try:
        build(args.build_type, clean=args.clean, verbose=args.verbose)
    except BuildError as exc:
        print(f"halkit build failed: {exc}", file=sys.stderr)
        return 1
    return 0
