"""`halkit.distributed.launch(...)`: run `python -m halkit.launch` from Python.

The launcher runs in a child process, never inside the caller: torch's
elastic agent installs signal handlers and owns its workers' lifetimes,
which must not leak into a notebook kernel. Keyword arguments are torchrun's
flags (`nproc_per_node=2` → `--nproc-per-node 2`), checked against the
launcher's own parser so a typo is an immediate TypeError.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LaunchResult:
    returncode: int
    output: str  # launcher and workers, stdout and stderr interleaved
    command: list[str]

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class LaunchError(RuntimeError):
    """The launched job failed; `.result` holds the full output."""

    def __init__(self, result: LaunchResult):
        tail = "\n".join(result.output.splitlines()[-40:])
        super().__init__(f"launch failed with exit code {result.returncode}:\n{tail}")
        self.result = result


def launch_command(script: str, *script_args: str, **flags) -> list[str]:
    """The `python -m halkit.launch ...` argv for `launch()` (no process started)."""
    from halkit.distributed.launcher import build_parser  # torch import only when used

    known: dict[str, str] = {}  # python_name -> flag, the dashed spelling first
    for action in build_parser()._actions:
        for opt in action.option_strings:
            if opt.startswith("--"):
                known.setdefault(opt[2:].replace("-", "_"), opt)
    command = [sys.executable, "-m", "halkit.launch"]
    for name, value in flags.items():
        if name not in known:
            raise TypeError(f"launch() got an unknown launcher flag {name!r}; known: {sorted(known)}")
        if value is False or value is None:
            continue
        command.append(known[name])
        if value is not True:  # True = a bare switch such as --standalone / --module
            command.append(str(value))
    return [*command, str(script), *map(str, script_args)]


def launch(
    script: str | os.PathLike,
    *script_args,
    check: bool = True,
    echo: bool = True,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    **flags,
) -> LaunchResult:
    """Run `script` on workers like `python -m halkit.launch` and wait for it.

    Output is echoed line by line as it comes (`echo=False` to silence) and
    returned. torch elastic's routine notices (its raw `W1201 ...` log lines)
    are left out: `torch_log_level` defaults to "ERROR" here, so failures
    still show; pass "WARNING" to see them all. Interrupting (Ctrl-C / kernel
    interrupt) or `timeout` stops the launcher with SIGTERM, which stops every
    worker. `check=True` raises LaunchError when the job fails.
    """
    flags.setdefault("torch_log_level", "ERROR")
    command = launch_command(str(script), *script_args, **flags)
    child_env = {**os.environ, **(env or {})}
    # The child must import this same halkit, wherever the caller's cwd is.
    halkit_root = str(Path(__file__).resolve().parents[2])
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (halkit_root, child_env.get("PYTHONPATH")) if p
    )
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env
    )
    lines: list[str] = []
    try:
        _collect_output(process, lines, echo, timeout)
    except BaseException:  # KeyboardInterrupt, timeout, anything: never leave a job behind
        _stop(process)
        raise
    result = LaunchResult(process.wait(), "".join(lines), command)
    if check and not result.ok:
        raise LaunchError(result)
    return result


def _collect_output(process, lines, echo, timeout) -> None:
    timed_out = threading.Event()

    def stop_on_deadline():
        timed_out.set()
        process.send_signal(signal.SIGTERM)  # the launcher stops its workers; output ends

    deadline = threading.Timer(timeout, stop_on_deadline) if timeout is not None else None
    if deadline:
        deadline.daemon = True
        deadline.start()
    for line in process.stdout:
        lines.append(line)
        if echo:
            print(line, end="", flush=True)
    if deadline:
        deadline.cancel()
    if timed_out.is_set():
        raise TimeoutError(f"launch did not finish within {timeout} s; it was stopped")


def _stop(process: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the launcher (it stops its workers), SIGKILL it if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()  # its workers die with it (PR_SET_PDEATHSIG in the shim)
            process.wait()
