"""Worker shim: `python -m halkit.distributed.worker [--module] SCRIPT ARGS...`.

The launcher starts every worker through this module so that any user script,
unchanged, gets:

* torch's `@record`: an uncaught exception is written to the error file the
  elastic agent gave this worker, so the launcher prints the root-cause
  traceback next to the failing rank;
* death with the launcher, children included: if the launcher is killed
  outright (SIGKILL, OOM killer) the kernel kills this worker
  (PR_SET_PDEATHSIG), and a watcher process (group_watcher.py) then stops
  everything the worker started (its process group): no orphan keeps running;
* in a loopback job, rank 0 hosts the process group's store on loopback only
  (torch's own would listen on every interface).
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path

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


def stop_group_with_worker() -> subprocess.Popen | None:
    """Start the watcher that stops this worker's process group once the worker is gone.

    See halkit/distributed/group_watcher.py for why (children outliving a
    SIGKILLed launcher) and how. Returns the watcher (keep it referenced), or
    None where it cannot work: no pidfd (not Linux >= 5.3), or this worker is
    not its group's leader, so the group is not its to stop.
    """
    if not hasattr(os, "pidfd_open") or os.getpgid(0) != os.getpid():
        return None
    worker = os.pidfd_open(os.getpid())
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).with_name("group_watcher.py")),
             str(worker), str(os.getpid())],
            pass_fds=(worker,),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            process_group=0,  # outside the group it will signal
        )
    finally:
        os.close(worker)


def host_group_store() -> object | None:
    """Rank 0 of a loopback job hosts the process group's store, on loopback only.

    `init_process_group("env://")` in the script then reuses this server
    (multi-tenant store, see halkit.distributed.stores). Returns the store
    (keep it for the life of the process), or None when this job's store is
    not this process's to host.
    """
    if os.environ.get("RANK") != "0" or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        return None  # another rank, or the launcher's agent hosts the store
    from halkit.distributed.stores import is_loopback, serve_on_loopback

    addr, port = os.environ.get("MASTER_ADDR", ""), int(os.environ.get("MASTER_PORT", "0"))
    if not (is_loopback(addr) and port):
        return None
    return serve_on_loopback(addr, port)


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


def main(argv: list[str]) -> None:
    from torch.distributed.elastic.multiprocessing.errors import record

    die_with_parent()
    watcher = stop_group_with_worker()  # noqa: F841 (locals: alive while the script runs)
    store = host_group_store()  # noqa: F841
    record(run)(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
