"""Backend selection: listing, env var, context manager nesting, thread isolation, errors, threads."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import halkit.hal as hal
from halkit.hal import registry


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_numpy_is_always_available_and_listed_first():
    assert hal.backends()[0] == "numpy"
    assert isinstance(hal.get_backend("numpy"), hal.Driver)


def test_use_as_context_manager_nests_and_restores():
    start = hal.current_backend()
    with hal.use("numpy") as backend:
        assert backend.name == "numpy" == hal.current_backend()
        for other in hal.backends():
            with hal.use(other):
                assert hal.current_backend() == other
            assert hal.current_backend() == "numpy"
    assert hal.current_backend() == start


def test_use_as_plain_call_switches_until_changed():
    start = hal.current_backend()
    try:
        hal.use("numpy")
        assert hal.current_backend() == "numpy"
    finally:
        hal.use(start)


def test_selection_is_per_thread():
    seen = {}
    with hal.use("numpy"):
        worker = threading.Thread(target=lambda: seen.setdefault("name", hal.current_backend()))
        worker.start()
        worker.join()
    assert seen["name"] == registry._default_backend().name  # a new thread starts at the process default


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(hal.BackendUnavailableError, match=r"unknown backend 'tpu'.*known backends are .*numpy"):
        hal.use("tpu")


def test_failed_use_changes_nothing():
    before = hal.current_backend()
    with pytest.raises(hal.BackendUnavailableError):
        hal.use("no-such-device")
    assert hal.current_backend() == before


def test_env_var_picks_the_default():
    out = run_python("import halkit.hal as h; print(h.current_backend())", HALKIT_BACKEND="numpy")
    assert out.stdout.strip() == "numpy", out.stderr


def test_env_var_naming_an_unavailable_backend_says_why():
    out = run_python("import numpy as np, halkit.hal as h; h.relu(np.ones(2, np.float32))", HALKIT_BACKEND="tpu")
    assert out.returncode != 0 and "HALKIT_BACKEND='tpu'" in out.stderr and "known backends" in out.stderr


def test_default_is_native_when_built_else_numpy():
    out = run_python("import halkit.hal as h; print(h.current_backend())", HALKIT_BACKEND="")
    assert out.stdout.strip() == ("native" if "native" in hal.backends() else "numpy"), out.stderr


def test_default_accelerator_is_the_mock_else_the_host_default():
    assert hal.default_accelerator() is hal.get_backend("mock")
    code = ("import sys, halkit.hal as h\n"
            "sys.modules['halkit.device.driver'] = None  # the mock cannot import\n"
            "print(h.default_accelerator().name, h.current_backend())")
    out = run_python(code, HALKIT_BACKEND="numpy")
    assert out.stdout.split() == ["numpy", "numpy"], out.stderr


def test_unbuilt_native_backend_says_how_to_build():
    # Hide the compiled module by importing from a copy of the package without it.
    code = (
        "import sys, halkit.hal as h\n"
        "sys.modules['halkit._native'] = None  # what Python does for a module that cannot import\n"
        "try:\n    h.use('native')\nexcept h.BackendUnavailableError as e:\n    print(e)\n"
    )
    out = run_python(code)
    assert "python -m halkit.build" in out.stdout, out.stderr
    assert "numpy" in run_python("import halkit.hal as h; print(h.backends())").stdout


def test_register_backend_plugs_in_a_new_device_without_touching_callers():
    hal.register_backend("doubling", "tests.hal.doubling_backend:DoublingDriver")
    try:
        with hal.use("doubling"):
            np.testing.assert_array_equal(hal.relu(np.array([-1.0, 2.0], np.float32)), [0.0, 4.0])
        assert "doubling" in hal.backends()
    finally:
        registry._specs.pop("doubling")
        registry._instances.pop("doubling", None)


def test_num_threads_set_get_and_validation():
    before = hal.get_num_threads()
    try:
        hal.set_num_threads(1)
        assert hal.get_num_threads() == 1
        for bad in (0, -2, 1.5, "2", True, hal.MAX_THREADS + 1, 5000):
            with pytest.raises(ValueError, match=f"num_threads must be an int from 1 to {hal.MAX_THREADS}"):
                hal.set_num_threads(bad)
            assert hal.get_num_threads() == 1  # a refused value changes nothing
    finally:
        hal.set_num_threads(before)


def test_absurd_thread_count_before_native_loads_is_refused_and_changes_nothing():
    out = run_python(
        "import halkit.hal as h\n"
        "try:\n    h.set_num_threads(2000)\nexcept ValueError as e:\n    print('refused:', e)\n"
        "import numpy as np; a = np.ones((4, 4), np.float32)\n"
        "print(h.backends(), h.get_num_threads(), h.matmul(a, a)[0, 0])")
    assert "refused: num_threads must be an int from 1 to" in out.stdout, out.stderr
    assert out.stdout.strip().endswith(f"{hal.usable_cores()} 4.0"), out.stdout


@pytest.mark.parametrize("value", ["lots", "2000", "0"])
def test_num_threads_env_var(value):
    assert run_python("import halkit.hal as h; print(h.get_num_threads())", HALKIT_NUM_THREADS="1").stdout.strip() == "1"
    # A bad value warns once, names the variable, and falls back to the usable cores: ops keep working.
    bad = run_python("import numpy as np, halkit.hal as h; a = np.ones((2, 2), np.float32)\n"
                     "print(h.get_num_threads(), h.matmul(a, a)[0, 0], h.backends()[0])", HALKIT_NUM_THREADS=value)
    assert bad.returncode == 0, bad.stderr
    assert f"HALKIT_NUM_THREADS={value!r} is not an int from 1 to {hal.MAX_THREADS}" in bad.stderr
    assert bad.stdout.split() == [str(hal.usable_cores()), "2.0", "numpy"]


def test_thread_count_does_not_change_results(on_backend, rng):
    a, b = rng.standard_normal((300, 257)).astype(np.float32), rng.standard_normal((257, 190)).astype(np.float32)
    before = hal.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            hal.set_num_threads(n)
            results.append(hal.matmul(a, b))
    finally:
        hal.set_num_threads(before)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-4)


def test_unregister_backend_closes_and_forgets_and_entry_points_come_back():
    class Closing(type(hal.get_backend("numpy"))):
        name = "closing"
        closed = False

        def close(self):
            type(self).closed = True

    hal.register_backend("closing", Closing)
    assert "closing" in hal.backends()
    hal.unregister_backend("closing")
    assert Closing.closed and "closing" not in hal.backends()
    hal.unregister_backend("closing")  # unknown now: a no-op
