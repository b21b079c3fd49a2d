"""Worker shim: `python -m halkit.distributed.worker [--module] SCRIPT ARGS...`.

The launcher starts every worker through this module so that any user script,
unchanged, gets:

* torch's `@record`: an uncaught exception is written to the error file the
  elastic agent gave this worker, so the launcher prints the root-cause
  traceback next to the failing rank;
* death with the launcher: if the launcher is killed outright (SIGKILL, OOM
  killer) the kernel kills this worker too, so no orphan keeps running.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys

from torch.distributed.elastic.multiprocessing.errors import record

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the launcher) dies."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere the launcher's own shutdown path is the only guard
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not fatal: the launcher still stops workers on every normal path
    if os.getppid() != parent:  # the launcher died before prctl took effect
        os._exit(1)


@record
def run(argv: list[str]) -> None:
    as_module = argv[:1] == ["--module"]
    if as_module:
        argv = argv[1:]
    if not argv:
        raise SystemExit("usage: python -m halkit.distributed.worker [--module] SCRIPT [ARGS...]")
    target, *script_args = argv
    sys.argv = [target, *script_args]
    if as_module:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        # Same import path as `python SCRIPT`: the script's own folder first.
        sys.path[0] = os.path.dirname(os.path.abspath(target))
        runpy.run_path(target, run_name="__main__")


if __name__ == "__main__":
    die_with_parent()
    run(sys.argv[1:])
