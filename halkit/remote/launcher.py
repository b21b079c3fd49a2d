"""Start a device server as a child process — what tests, notebooks and the benchmark do.

``start_server()`` runs ``python -m halkit.remote serve --port 0 --exit-with-parent`` on loopback, waits for
the line saying where it listens, and returns a :class:`ServerProcess` (``.address``, ``.token_file``,
``.connect()``, ``.stop()``; also a context manager). The server watches its parent and stops when it goes,
so a crashed test run or notebook kernel leaves no orphan behind; its log goes to a file (``.log()``), never
to a pipe nobody reads.
"""
from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_READY = re.compile(r"serving (\S+) on (\S+)$")
_TOKEN = re.compile(r"token file (.+)$")


class ServerProcess:
    """A running ``halkit.remote serve`` child process."""

    def __init__(self, process: subprocess.Popen, address: str, token_file: str, workdir: Path):
        self.process, self.address, self.token_file, self._workdir = process, address, token_file, workdir

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def connect(self, **kwargs):
        """A RemoteDriver on this server (not registered; see halkit.remote.connect for that)."""
        from .driver import RemoteDriver

        return RemoteDriver(self.address, self.token_file, **kwargs)

    def log(self) -> str:
        return (self._workdir / "server.log").read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (graceful: sessions closed, token file removed), SIGKILL if it lingers; returns the exit code."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self._workdir, ignore_errors=True)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would (the tests' dying server)."""
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<halkit remote server pid {self.pid} at {self.address}{'' if self.running else ' (stopped)'}>"


def start_server(driver: str = "native", *, max_memory: int | None = None, token_file: str | None = None,
                 args=(), timeout: float = 60.0) -> ServerProcess:
    """Start a loopback server of ``driver`` and wait (up to ``timeout`` s) until it listens.

    Without ``token_file`` the server writes a new token into a private directory of its own and removes it
    when it stops — also when it stops because this process died."""
    workdir = Path(tempfile.mkdtemp(prefix="halkit-remote-"))
    command = [sys.executable, "-m", "halkit.remote", "serve", "--driver", driver, "--port", "0", "--exit-with-parent",
               *(["--token-file", str(token_file)] if token_file else []), *args]
    if max_memory is not None:
        command += ["--max-memory", str(max_memory)]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # the child imports this very halkit
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(workdir / "server.log", "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                   bufsize=0)
    address = token_path = None
    output, deadline = b"", time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:  # raw reads: a buffered readline could hide a line from select
        selector.register(process.stdout, selectors.EVENT_READ)
        while address is None:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:  # the server exited
                break
            output += chunk
            for line in output.decode(errors="replace").splitlines():
                if match := _TOKEN.search(line.strip()):
                    token_path = match.group(1)
                if match := _READY.search(line.strip()):
                    address = match.group(2)
    server = ServerProcess(process, address, token_path, workdir)
    if address is None or token_path is None:
        log_text = server.log()
        server.stop()
        raise RuntimeError(f"the halkit remote server did not start within {timeout:g} s "
                           f"(exit code {process.returncode}); its log:\n{log_text}")
    return server
