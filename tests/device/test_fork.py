"""A forked child (a DataLoader worker) uses the mock device its parent used: fresh workers, no hang.

Each scenario runs in its own interpreter, which forks; the parent kills a child that does not finish in time,
so a regression fails the test instead of hanging the suite.
"""
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(120)

_RUN_CHILD = textwrap.dedent("""
    import os, sys, time, traceback

    def run_in_child(body, timeout=30):
        pid = os.fork()
        if pid == 0:
            try:
                body()
                code = 0
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return "hung"
""")


def _run(script: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _RUN_CHILD + textwrap.dedent(script)], capture_output=True,
                         text=True, timeout=100)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_a_child_uses_the_mock_after_the_parent_did():
    printed = _run("""
        import numpy as np
        import halkit.hal as hal
        from halkit.device import MockDriver

        hal.register_backend("mock", MockDriver)  # also without the installed entry point
        x = np.arange(-6, 6, dtype=np.float32).reshape(3, 4)
        with hal.use("mock"):
            assert np.array_equal(hal.relu(x), np.maximum(x, 0))  # the parent's streams have workers now
        resident = hal.to_device(x, "mock")
        hal.synchronize("mock")  # nothing in flight at the fork (see the next test for what happens otherwise)

        def child():
            with hal.use("mock"):
                assert np.array_equal(hal.relu(x), np.maximum(x, 0))  # the op API
            assert np.array_equal(hal.scale(resident, 2.0).numpy(), 2 * x)  # a DeviceArray the parent made
            hal.synchronize("mock", timeout=10)

        print(run_in_child(child), run_in_child(child))
        with hal.use("mock"):
            assert np.array_equal(hal.relu(x), np.maximum(x, 0))  # the parent is unaffected
        print("parent-ok")
    """)
    assert printed == ["0", "0", "parent-ok"]


def test_work_queued_at_the_fork_fails_in_the_child_instead_of_hanging():
    printed = _run("""
        import threading
        import numpy as np
        import halkit.device as hd

        device = hd.Device("edge-npu", memory_bytes=1 << 20)
        s, started, gate = device.stream("busy"), threading.Event(), threading.Event()
        buf = device.alloc(4)
        s.host_func(lambda: (started.set(), gate.wait(10)))
        s.fill(buf, 1.0)  # still queued when the process forks
        started.wait(10)

        def child():
            try:
                s.synchronize(timeout=10)
                raise AssertionError("the lost commands were not reported")
            except hd.StreamError as err:
                assert "forked" in str(err), err
            s.fill(buf, 2.0)  # reported once: the stream works again in the child
            assert device.to_host(buf, s).tolist() == [2.0] * 4
            assert device.memory_stats()["used"] == 16

        print(run_in_child(child))
        gate.set()
        s.synchronize(timeout=10)
        print(device.to_host(buf, s).tolist() == [1.0] * 4)
        device.close()
    """)
    assert printed == ["0", "True"]
