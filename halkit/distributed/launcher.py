"""`python -m halkit.launch`: torchrun plus what HAL workers need.

Everything distributed is PyTorch's own engine (`torch.distributed.run`:
its argument parser, `config_from_args` and `elastic_launch`). This module
only adds:

* two HAL flags (`--hal-backend`, `--hal-threads`) turned into the worker
  environment (`HALKIT_BACKEND`, `HALKIT_NUM_THREADS`; `OMP_NUM_THREADS`
  follows the same cores-per-worker split so torch does not oversubscribe);
* loopback defaults: a single-node run rendezvous on 127.0.0.1 on a free port,
  and multi-node runs happen only when flags say so;
* the worker shim (`halkit.distributed.worker`) that records each worker's
  root-cause traceback and ties the worker's life to the launcher's;
* a short failure report (failing rank, exit code, traceback) and an exit
  status a shell script can test.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import uuid
from argparse import ArgumentParser, Namespace
from pathlib import Path

import psutil
from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from halkit import hal

LOOPBACK = "127.0.0.1"
WORKER_SHIM = "halkit.distributed.worker"


def build_parser() -> ArgumentParser:
    """torchrun's own parser (every torchrun flag, same defaults) + HAL flags."""
    parser = torchrun.get_args_parser()
    parser.prog = "python -m halkit.launch"
    parser.description = (
        "Launch a training script on N local workers (and M nodes) with "
        "torchrun's flags; each worker gets HALKIT_BACKEND and a share of the cores."
    )
    hal_group = parser.add_argument_group("halkit")
    hal_group.add_argument(
        "--hal-backend",
        default=None,
        help="HAL backend for every worker (default: $HALKIT_BACKEND, "
        "else halkit's default backend).",
    )
    hal_group.add_argument(
        "--hal-threads",
        type=int,
        default=None,
        help="native threads per worker (default: $HALKIT_NUM_THREADS, "
        "else usable cores // local workers, at least 1).",
    )
    return parser


def usable_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(nproc_per_node: int, cores: int | None = None) -> int:
    """Split the cores evenly between the local workers, never below one."""
    if nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be >= 1, got {nproc_per_node}")
    return max(1, (cores or usable_cores()) // nproc_per_node)


def resolve_hal_backend(requested: str | None) -> str:
    """The backend name every worker will use; fails early if it is unusable.

    Checked here, once, so a typo or an unbuilt extension is one clear error
    instead of N identical worker crashes after N torch imports.
    """
    name = requested or os.environ.get("HALKIT_BACKEND") or hal.current_backend()
    try:
        hal.get_backend(name)
    except hal.BackendUnavailableError as exc:  # its message says why, e.g. "not built: run ..."
        raise ValueError(f"HAL backend {name!r} is not usable: {exc}") from exc
    return name


def hal_worker_env(args: Namespace, nproc_per_node: int) -> dict[str, str]:
    """The HAL part of every worker's environment (user settings win)."""
    if args.hal_threads is not None and args.hal_threads < 1:
        raise ValueError(f"--hal-threads must be >= 1, got {args.hal_threads}")
    threads = args.hal_threads or os.environ.get("HALKIT_NUM_THREADS")
    threads = str(threads or threads_per_worker(nproc_per_node))
    env = {
        "HALKIT_BACKEND": resolve_hal_backend(args.hal_backend),
        "HALKIT_NUM_THREADS": threads,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", threads),
    }
    # torch shares the rendezvous TCP store with the workers by default, but
    # then a restarted group reads the previous attempt's gloo addresses from
    # it and cannot connect (--max-restarts never recovers). Give every
    # attempt its own store, as torch did before store sharing.
    env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] = os.environ.get(
        "TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1"
    )
    if _is_loopback_run(args):
        # gloo picks its interface from the hostname, which on many hosts
        # resolves to an address other than loopback; pin it to loopback.
        loopback_if = _loopback_interface()
        if loopback_if and "GLOO_SOCKET_IFNAME" not in os.environ:
            env["GLOO_SOCKET_IFNAME"] = loopback_if
    # Workers run `-m halkit.distributed.worker`: make sure they import the
    # same halkit as this launcher, whatever their working directory.
    halkit_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (halkit_root, os.environ.get("PYTHONPATH")) if p
    )
    return env


def apply_loopback_defaults(args: Namespace) -> None:
    """Single node → c10d rendezvous on 127.0.0.1, free port, fresh run id.

    torchrun's own defaults use "localhost" (may resolve to ::1 or a public
    interface) and the machine's FQDN as MASTER_ADDR; binding to loopback
    keeps a laptop/CI run off the network. Multi-node is opt-in by flags.
    """
    _, max_nodes = torchrun.parse_min_max_nnodes(args.nnodes)
    implicit_rdzv = (
        args.rdzv_backend == "static" and not args.rdzv_endpoint and args.master_port is None
    )
    if args.standalone or (max_nodes == 1 and implicit_rdzv):
        args.standalone = False
        args.rdzv_backend = "c10d"
        args.rdzv_endpoint = f"{LOOPBACK}:0"
        args.rdzv_id = str(uuid.uuid4())
    if args.master_port is None:
        args.master_port = 29500  # torchrun's default; only static rendezvous reads it
    if args.local_addr is None and _is_loopback_run(args):
        args.local_addr = LOOPBACK  # becomes the workers' MASTER_ADDR


def route_through_worker_shim(args: Namespace) -> None:
    """Run `python -m halkit.distributed.worker [--module] SCRIPT ARGS...`.

    Scripts run with --no-python or --run-path are not Python processes we
    start ourselves, so they are left exactly as torchrun would run them.
    """
    if args.no_python or args.run_path:
        return
    shim_args = ["--module"] if args.module else []
    args.training_script_args = [*shim_args, args.training_script, *args.training_script_args]
    args.training_script = WORKER_SHIM
    args.module = True


def build_launch(argv: list[str] | None = None) -> tuple[LaunchConfig, str, list[str], dict]:
    """Parse torchrun+HAL flags → (LaunchConfig, command, command args, worker env).

    The worker env is also written into this process's environment: the
    agent starts workers with a copy of it, so that is how they receive it.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        apply_loopback_defaults(args)
        nproc = torchrun.determine_local_world_size(args.nproc_per_node)
        env = hal_worker_env(args, nproc)
    except ValueError as exc:
        parser.error(str(exc))
    route_through_worker_shim(args)
    # config_from_args reads OMP_NUM_THREADS from os.environ; ours is set by now.
    os.environ.update(env)
    config, cmd, cmd_args = torchrun.config_from_args(args)
    return config, cmd, cmd_args, env


def main(argv: list[str] | None = None) -> int:
    config, cmd, cmd_args, _ = build_launch(argv)
    try:
        elastic_launch(config=config, entrypoint=cmd)(*cmd_args)
    except ChildFailedError as failure:
        return report_failure(failure)
    except SignalException as stop:
        # torch's agent has already stopped (and reaped) every worker.
        print(f"halkit.launch: got {stop.sigval.name}, stopped all workers", file=sys.stderr)
        return 128 + int(stop.sigval)
    return 0


def report_failure(failure: ChildFailedError) -> int:
    """Print the failing rank, its exit code and root-cause traceback."""
    rank, first = failure.get_first_failure()
    print(failure.format_msg(), file=sys.stderr)
    print(
        f"halkit.launch: worker rank {rank} (local rank {first.local_rank}, "
        f"pid {first.pid}) failed with exit code {first.exitcode}; "
        "all other workers were stopped",
        file=sys.stderr,
    )
    # Pass a worker's own exit status through (scripts can test it); a
    # signal death (negative code) becomes a plain failure.
    return first.exitcode if 0 < first.exitcode < 256 else 1


def _is_loopback_run(args: Namespace) -> bool:
    host = (args.rdzv_endpoint or args.master_addr).rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loopback_interface() -> str | None:
    for name, addresses in psutil.net_if_addrs().items():
        if any(a.address == LOOPBACK for a in addresses):
            return name
    return None
