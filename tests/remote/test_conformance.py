"""The conformance suite against a real server: in process (one test per feature) and as the CLI a user runs."""
import os
import subprocess
import sys

import pytest

from halkit import cts
from halkit.remote import start_server
from halkit.remote.driver import RemoteDriver


@pytest.fixture(scope="module")
def conformance_driver(server):
    """Configured through the environment, as a user would, so lifecycle.close can build a fresh instance."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HALKIT_REMOTE", server.address)
        env.setenv("HALKIT_REMOTE_TOKEN_FILE", server.token_file)
        driver = RemoteDriver()
        yield driver
        driver.close()


def pytest_generate_tests(metafunc):
    if "feature" in metafunc.fixturenames:
        # The op checks follow the declared dtypes, which are the server driver's (native: float32, float64).
        from halkit import hal

        metafunc.parametrize("feature", [c.id for c in cts.checks(hal.get_backend("native"))])


def test_feature(conformance_driver, feature):
    check = next(c for c in cts.checks(conformance_driver) if c.id == feature)
    result = cts.run_check(conformance_driver, check)
    assert result.status in (cts.PASS, cts.NA), f"{feature}: {result.status}: {result.message}"
    if result.status == cts.NA:
        # Only the fallback checks may not apply (the server's native driver runs every op on the device), and
        # errors.gemm_arguments: a driver behind a link does not claim to check GEMM arguments for the op API.
        assert feature.startswith("fallback.") or feature == "errors.gemm_arguments", \
            f"{feature} did not apply: {result.message}"


@pytest.mark.parametrize("driver", ["numpy", "mock"])
def test_cli_against_a_server_of_another_driver(driver):
    """`python -m halkit.cts --device remote` with HALKIT_REMOTE set: what a user runs; exit status 0 = conforms.
    The mock is a device with its own asynchronous streams, so the server's streams and events map onto real ones."""
    with start_server(driver, max_memory=256 << 20) as server:
        env = dict(os.environ, HALKIT_REMOTE=server.address, HALKIT_REMOTE_TOKEN_FILE=server.token_file)
        done = subprocess.run([sys.executable, "-m", "halkit.cts", "--device", "remote"], env=env,
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "CONFORMS" in done.stdout and f"remote {server.address} (" in done.stdout
