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
* loopback-only stores: the rendezvous store of a loopback run listens on
  127.0.0.1 only (see `halkit.distributed.stores`), and a rendezvous
  endpoint taken by a foreign program is an error naming it, not a hang;
* a short failure report (failing rank, exit code, traceback) and an exit
  status a shell script can test.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from argparse import ArgumentParser, Namespace, RawDescriptionHelpFormatter
from pathlib import Path

import psutil
from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.elastic.rendezvous.utils import parse_rendezvous_endpoint
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from halkit import hal
from halkit.distributed.stores import (
    StoreEndpointError,
    check_store_endpoint,
    format_endpoint,
    is_loopback,
    serve_on_loopback,
)
from halkit.hal.threads import check_num_threads, usable_cores

LOOPBACK = "127.0.0.1"
WORKER_SHIM = "halkit.distributed.worker"


#: Shown first by --help; the README runs the same commands in its tests.
EXAMPLES = """\
examples:
  # DDP over HALLinear on 2 workers, each with half the cores
  python -m halkit.launch --nproc-per-node 2 examples/train_ddp.py --metrics run.json

  # rank 1 crashes before step 27; the group restarts and resumes from the checkpoint
  python -m halkit.launch --nproc-per-node 2 --max-restarts 1 examples/train_ddp.py --checkpoint ckpt.pt --crash-at-step 27 --metrics restarted.json
"""

TORCH_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")  # no quieter level: errors always show


def build_parser() -> ArgumentParser:
    """torchrun's own parser (every torchrun flag, same defaults) + HAL flags, listed first."""
    parser = torchrun.get_args_parser()
    parser.prog = "python -m halkit.launch"
    parser.usage = "%(prog)s [halkit flags] [torchrun flags] SCRIPT [SCRIPT ARGS...]"
    parser.formatter_class = RawDescriptionHelpFormatter  # keeps the examples' lines
    parser.description = (
        "Launch a training script on N local workers (and M nodes) with torchrun's\n"
        "flags; each worker gets HALKIT_BACKEND and a share of the cores. Single-node\n"
        "runs listen on 127.0.0.1 only.\n\n" + EXAMPLES
    )
    hal_group = parser.add_argument_group("halkit flags")
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
    hal_group.add_argument(
        "--torch-log-level",
        type=str.upper,
        choices=TORCH_LOG_LEVELS,
        default=None,
        help="level of torch elastic's own log lines (agent, rendezvous); default: "
        "$LOGLEVEL, else WARNING. ERROR keeps failures and drops routine notices.",
    )
    # argparse lists groups in creation order; halkit's few flags go before
    # torchrun's forty, whose groups are retitled to say where they come from.
    parser._action_groups.insert(0, parser._action_groups.pop())
    parser._positionals.title = "torchrun arguments"
    parser._optionals.title = "torchrun flags (torch.distributed.run, unchanged)"
    return parser


def threads_per_worker(nproc_per_node: int, cores: int | None = None) -> int:
    """Split the cores evenly between the local workers, never below one."""
    if nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be >= 1, got {nproc_per_node}")
    return max(1, (cores or usable_cores()) // nproc_per_node)


def hal_threads(requested: int | None, nproc_per_node: int) -> int:
    """Threads per worker, checked here with the HAL's own rule and message.

    A value the HAL refuses would otherwise kill every worker at its first op.
    """
    if requested is not None:
        return check_num_threads(requested, "--hal-threads")
    raw = os.environ.get("HALKIT_NUM_THREADS", "").strip()
    if raw:
        return check_num_threads(int(raw) if raw.lstrip("-").isdigit() else raw, "HALKIT_NUM_THREADS")
    return threads_per_worker(nproc_per_node)


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
    threads = str(hal_threads(args.hal_threads, nproc_per_node))
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
    --torch-log-level is applied to this process's torch loggers here too.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        apply_loopback_defaults(args)
        nproc = torchrun.determine_local_world_size(args.nproc_per_node)
        if nproc < 1:  # torch's agent would stop on a bare AssertionError
            raise ValueError(f"--nproc-per-node must be >= 1 (or auto, cpu), got {args.nproc_per_node}")
        env = hal_worker_env(args, nproc)
    except ValueError as exc:
        parser.error(str(exc))
    route_through_worker_shim(args)
    if args.torch_log_level:
        set_torch_log_level(args.torch_log_level)
    # config_from_args reads OMP_NUM_THREADS from os.environ; ours is set by now.
    os.environ.update(env)
    config, cmd, cmd_args = torchrun.config_from_args(args)
    return config, cmd, cmd_args, env


def main(argv: list[str] | None = None) -> int:
    config, cmd, cmd_args, _ = build_launch(argv)
    try:
        store = host_rendezvous_store(config)  # noqa: F841 (a local: alive until the job ends)
    except StoreEndpointError as exc:
        print(f"halkit.launch: {exc}", file=sys.stderr)
        return 1
    try:
        elastic_launch(config=config, entrypoint=cmd)(*cmd_args)
    except ChildFailedError as failure:
        return report_failure(failure)
    except SignalException as stop:
        # torch's agent has already stopped (and reaped) every worker.
        print(f"halkit.launch: got {stop.sigval.name}, stopped all workers", file=sys.stderr)
        return 128 + int(stop.sigval)
    return 0


def host_rendezvous_store(config: LaunchConfig):
    """Host a loopback rendezvous store on loopback only; check any other store endpoint.

    Returns the store this launcher hosts (keep it alive for the job), or
    None when another process hosts it or the backend has no TCP store.
    Rewrites `config.rdzv_endpoint` when port 0 asked for a free port.
    """
    if config.rdzv_backend not in ("c10d", "static"):
        return None  # etcd and friends: not a TCPStore
    host, port = parse_rendezvous_endpoint(config.rdzv_endpoint, default_port=29400)
    # c10d: any node on the endpoint's host may host (torch's rule, first wins); static: node 0.
    may_host = config.rdzv_backend == "c10d" or config.rdzv_configs.get("rank") == 0
    if is_loopback(host) and may_host:
        store = serve_on_loopback(host, port)
        if store is not None:
            config.rdzv_endpoint = format_endpoint(host, store.port)
            return store
    check_store_endpoint(host, port)  # someone else listens there: it must answer as a store
    return None


def set_torch_log_level(level: str) -> None:
    """Log lines of torch's elastic agent, rendezvous and launcher below `level` are dropped.

    Most of these loggers inherit from `torch.distributed.elastic`; a few set
    their own level when created (at import, already done here), so those are
    set one by one.
    """
    prefixes = ("torch.distributed.elastic", "torch.distributed.launcher", "torch.distributed.run")
    for name in prefixes:
        logging.getLogger(name).setLevel(level)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(prefixes) and isinstance(logger, logging.Logger) and logger.level:
            logger.setLevel(level)


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
    return is_loopback((args.rdzv_endpoint or args.master_addr).rsplit(":", 1)[0])


def _loopback_interface() -> str | None:
    for name, addresses in psutil.net_if_addrs().items():
        if any(a.address == LOOPBACK for a in addresses):
            return name
    return None
