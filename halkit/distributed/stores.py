"""The TCP stores of a job: loopback-only when the job is, and an endpoint check.

torch's TCPStore server listens on every interface ("::") whatever host it is
given, so a single-node job would accept connections from the network. For
an address on loopback halkit opens the listening socket itself, bound to that
address only, and hands it to TCPStore (`master_listen_fd`). The store is
multi-tenant, so when torch later creates `TCPStore(host, port,
is_master=True, multi_tenant=True)` in the same process (the c10d rendezvous
in the launcher, `init_process_group("env://")` in rank 0) it reuses this
server instead of opening a second, wildcard listener.

`check_store_endpoint` answers the other question: something listens at the
rendezvous endpoint, but is it a store? torch's client waits forever for a
reply from a program that accepts and stays silent; halkit asks with a
deadline and names the endpoint.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from datetime import timedelta

from torch.distributed import TCPStore

#: A TCPStore answers in milliseconds; this leaves room for a loaded machine.
STORE_REPLY_TIMEOUT_S = 5.0


class StoreEndpointError(RuntimeError):
    """The rendezvous endpoint is taken by something that is not a TCPStore."""


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def format_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve_on_loopback(host: str, port: int) -> TCPStore | None:
    """Host a multi-tenant store on `host:port` (a loopback address), listening there only.

    Port 0 picks a free port (the store's `.port`). Returns None when the
    port is already taken: another process hosts the store (or squats on it;
    `check_store_endpoint` tells which).
    """
    if not is_loopback(host):
        raise ValueError(f"serve_on_loopback needs a loopback address, got {host!r}")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    # Same option torch sets on its own listeners (restarts on a fixed port
    # must not wait for TIME_WAIT); Linux still refuses a port someone listens on.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host.strip("[]"), port))
        listener.listen(socket.SOMAXCONN)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            return None
        raise
    store = TCPStore(host, listener.getsockname()[1], is_master=True, multi_tenant=True,
                     wait_for_workers=False, master_listen_fd=listener.fileno())
    listener.detach()  # the store's server owns the socket now
    return store


def check_store_endpoint(host: str, port: int, timeout_s: float = STORE_REPLY_TIMEOUT_S) -> None:
    """Raise StoreEndpointError if `host:port` accepts connections but is not a TCPStore.

    Nobody listening is fine: this node will host the store, or the node that
    hosts it has not started yet (torch waits for it, as it should).
    """
    endpoint = format_endpoint(host, port)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError:
        return  # refused or unreachable now: torch's own retries and timeouts apply
    outcome: dict[str, object] = {}

    def ask() -> None:  # torch's client blocks without a deadline on a silent peer
        try:
            TCPStore(host, port, is_master=False, timeout=timedelta(seconds=timeout_s)).check(["halkit/probe"])
            outcome["answered"] = True
        except Exception as exc:  # any failure to speak the protocol is the finding
            outcome["error"] = exc

    probe = threading.Thread(target=ask, name="halkit-store-probe", daemon=True)
    probe.start()
    probe.join(timeout_s)
    if outcome.get("answered"):
        return
    why = f"no reply within {timeout_s:g} s" if probe.is_alive() else f"{outcome['error']}".splitlines()[0]
    raise StoreEndpointError(
        f"the rendezvous endpoint {endpoint} accepts connections but is not a PyTorch TCPStore "
        f"({why}); another program is using that port. Stop it, or pick a free port for "
        "--rdzv-endpoint (every node must use the same one)."
    )
