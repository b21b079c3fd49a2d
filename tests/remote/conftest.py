"""Servers for the remote-device tests: real ``python -m halkit.remote serve`` child processes.

Every server is started through halkit.remote.start_server (loopback, its own token file, ``--exit-with-parent``)
and stopped by its fixture; the last fixture checks that no server process outlived the tests.
"""
import psutil
import pytest

from halkit import hal
from halkit.remote import start_server

#: device memory of the shared server: small, so out-of-memory paths are cheap to reach
SERVER_MEMORY = 256 << 20


def _servers_alive() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "halkit.remote" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.fixture(scope="session", autouse=True)
def no_orphan_servers():
    """After every remote test has run, no server process started by them is left."""
    yield
    left = _servers_alive()
    for process in left:
        process.kill()
    assert not left, f"server processes outlived the tests: {[p.pid for p in left]}"


@pytest.fixture(scope="module")
def server():
    """One native-driver server shared by a test module."""
    with start_server("native", max_memory=SERVER_MEMORY) as process:
        yield process


@pytest.fixture
def fresh_server():
    """A server of its own, for tests that stop or kill it."""
    process = start_server("native", max_memory=SERVER_MEMORY)
    yield process
    process.stop()  # a no-op for the process if the test killed it; removes its files either way


@pytest.fixture
def remote(server):
    """A client of the shared server (closed afterwards, which frees its session)."""
    driver = server.connect(probe_bytes=1 << 20)
    yield driver
    driver.close()


@pytest.fixture
def registered(server, monkeypatch):
    """The shared server registered as HAL device "remote" through the environment, as a user would."""
    monkeypatch.setenv("HALKIT_REMOTE", server.address)
    monkeypatch.setenv("HALKIT_REMOTE_TOKEN_FILE", server.token_file)
    hal.register_backend("remote", "halkit.remote.driver:RemoteDriver")  # drop any earlier instance
    driver = hal.get_backend("remote")
    yield driver
    hal.register_backend("remote", "halkit.remote.driver:RemoteDriver")  # closes it
