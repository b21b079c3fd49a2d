"""Where a job listens: single-node stores on loopback only, and a squatted endpoint is an error, not a hang."""

import ipaddress
import socket
import time
from pathlib import Path

import psutil
import pytest

MISBEHAVE = Path(__file__).parent / "scripts" / "misbehave.py"
pytestmark = pytest.mark.timeout(90)


def listening_addresses(processes) -> dict[int, list[str]]:
    """pid -> the addresses its TCP sockets listen on (read while the job is live)."""
    found = {}
    for proc in processes:
        try:
            found[proc.pid] = [c.laddr.ip for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_a_single_node_run_listens_on_loopback_only(jobs, tmp_path):
    # "group": every rank has joined the gloo group, so rank 0's MASTER_PORT store is up too.
    launcher = jobs.start("--nproc-per-node", "2", MISBEHAVE, "group", tmp_path)
    jobs.wait_for_files([tmp_path / "ready.0", tmp_path / "ready.1"], launcher)
    listening = listening_addresses(jobs.alive())
    launcher.terminate()
    launcher.communicate(timeout=30)

    assert listening.get(launcher.pid), "the launcher hosts the rendezvous store"
    workers = [pid for pid in listening if pid != launcher.pid and listening[pid]]
    assert workers, "rank 0 hosts the process group's store"
    every = [ip for ips in listening.values() for ip in ips]
    assert all(ipaddress.ip_address(ip).is_loopback for ip in every), listening


def test_a_foreign_program_on_the_rendezvous_endpoint_is_named_not_waited_for(jobs, tmp_path):
    with socket.socket() as squatter:  # accepts connections (kernel backlog), never answers
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        endpoint = f"127.0.0.1:{squatter.getsockname()[1]}"
        began = time.monotonic()
        code, output = jobs.run("--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
                                MISBEHAVE, "sleep", tmp_path, timeout=60)
    assert code == 1, output
    assert f"rendezvous endpoint {endpoint} accepts connections but is not a PyTorch TCPStore" in output
    assert "pick a free port for --rdzv-endpoint" in output
    assert time.monotonic() - began < 45
    assert not (tmp_path / "ready.0").exists()  # no worker was started
