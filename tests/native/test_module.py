"""halkit._native as a module: thread count, ISA choice, info, fork safety, the GIL, and refusing bad input."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from conftest import native, rnd


def test_threads_api():
    assert native.get_num_threads() >= 1
    native.set_num_threads(1)
    assert native.get_num_threads() == 1 and native.info()["threads"] == 1
    native.set_num_threads(2)
    assert native.get_num_threads() == 2
    native.set_num_threads(256)  # the documented maximum (halkit.hal.threads.MAX_THREADS) is accepted
    assert native.get_num_threads() == 256
    native.gemm(np.ones((300, 300), np.float32), np.ones((300, 300), np.float32))
    native.set_num_threads(2)


@pytest.mark.parametrize("bad", [0, -1, 257, 5000, 2**70, 2.0, "2", True, None])
def test_set_num_threads_rejects_and_keeps_the_count(bad):
    native.set_num_threads(2)
    with pytest.raises(ValueError, match="from 1 to 256"):
        native.set_num_threads(bad)
    assert native.get_num_threads() == 2 and native.info()["threads"] == 2
    np.testing.assert_array_equal(native.relu(np.array([-1.0, 2.0])), [0.0, 2.0])


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=120)


def test_env_num_threads():
    out = run_python("import halkit._native as n; print(n.get_num_threads(), n.info()['threads'])",
                     HALKIT_NUM_THREADS="3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "3"]


@pytest.mark.parametrize("value", ["2000", "0", "two"])
def test_bad_env_num_threads_warns_and_uses_the_cores(value):
    code = """
        import os, warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import halkit._native as n
        import numpy as np
        assert n.get_num_threads() == len(os.sched_getaffinity(0)), n.get_num_threads()
        assert (n.relu(np.array([-1.0, 1.0])) == [0.0, 1.0]).all()
        print([str(x.message) for x in w])
        """
    out = run_python(code, HALKIT_NUM_THREADS=value)
    assert out.returncode == 0, out.stderr
    assert f"HALKIT_NUM_THREADS={value}" in out.stdout and "from 1 to 256" in out.stdout


def test_fma_peak():
    g = native.fma_peak(0.01, 1)
    assert isinstance(g, float) and g > 0
    assert native.fma_peak(0.01, 2) > 0
    with pytest.raises(ValueError):
        native.fma_peak(0.0, 1)
    with pytest.raises(ValueError):
        native.fma_peak(0.01, 0)


def test_info_and_isa_switch():
    info = native.info()
    assert info["isa"] in ("avx512", "avx2", "portable")
    assert info["threading"] == "thread-pool"
    for key in ("threads", "compiler", "build_type"):
        assert key in info
    isas = native._isas()
    assert "portable" in isas and info["isa"] == isas[-1]
    for name in isas:
        native._use_isa(name)
        assert native.info()["isa"] == name
    with pytest.raises(ValueError, match="not an ISA path"):
        native._use_isa("sse9")


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_env_forces_isa_path(isa):
    if isa not in native._isas():
        pytest.skip(f"this CPU cannot run the {isa} path")
    code = """
        import numpy as np, halkit._native as n
        a = np.random.default_rng(0).standard_normal((70, 90)).astype(np.float32)
        assert np.allclose(n.gemm(a, a.T.copy()), a @ a.T, rtol=1e-4, atol=1e-4)
        print(n.info()["isa"])
        """
    out = run_python(code, HALKIT_NATIVE_ISA=isa, HALKIT_NUM_THREADS="2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == isa


def test_bad_isa_env_falls_back_with_warning():
    out = run_python("import halkit._native as n; print(n.info()['isa'])", HALKIT_NATIVE_ISA="sse9")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("avx512", "avx2", "portable")
    assert "HALKIT_NATIVE_ISA" in out.stderr


def test_gil_released_concurrent_calls():
    # three Python threads calling into the module at once (the pool is busy for all but one)
    rng = np.random.default_rng(16)
    a, b = rnd(rng, (200, 300), np.float32), rnd(rng, (300, 250), np.float32)
    ref = native.gemm(a, b)
    errors = []

    def work():
        for _ in range(20):
            if not np.allclose(native.gemm(a, b), ref, rtol=1e-5, atol=1e-5):
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_after_pool_started():
    code = """
        import os, numpy as np
        import halkit._native as n
        n.set_num_threads(2)
        a = np.random.default_rng(0).standard_normal((300, 300)).astype(np.float32)
        ref = n.gemm(a, a)                      # the parent's pool is up and warm
        pid = os.fork()
        if pid == 0:                            # child: its pool must be rebuilt, not inherited
            ok = np.allclose(n.gemm(a, a), ref, rtol=1e-5, atol=1e-4) and np.array_equal(n.relu(a), np.maximum(a, 0))
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert np.allclose(n.gemm(a, a), ref, rtol=1e-5, atol=1e-4)
        print("ok")
        """
    out = run_python(code)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr


# ----------------------------------------------------------------------------- bad input

f32 = lambda *s: np.ones(s, np.float32)  # noqa: E731
f64 = lambda *s: np.ones(s, np.float64)  # noqa: E731


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: native.gemm(f32(2, 3).astype(np.int32), f32(3, 2).astype(np.int32)), TypeError, "a must be float32"),
        (lambda: native.gemm(f32(2, 3).astype(np.float16), f32(3, 2).astype(np.float16)), TypeError, "float32"),
        (lambda: native.gemm(f32(2, 3), f64(3, 2)), TypeError, "same dtype"),
        (lambda: native.gemm([[1.0]], [[1.0]]), TypeError, "a must be a numpy.ndarray"),
        (lambda: native.gemm(f32(3, 4)[:, ::2], f32(2, 2)), ValueError, "a must be C-contiguous"),
        (lambda: native.gemm(f32(4, 3).T, f32(4, 2)), ValueError, "C-contiguous"),
        (lambda: native.gemm(f32(2, 3, 1), f32(3, 2)), ValueError, "2-D"),
        (lambda: native.gemm(f32(3), f32(3, 2)), ValueError, "2-D"),
        (lambda: native.gemm(f32(2, 3), f32(4, 2)), ValueError, "inner dimensions"),
        (lambda: native.gemm(f32(2, 3), f32(2, 4), trans_b=True), ValueError, "inner dimensions"),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), trans_a=True), ValueError, "inner dimensions"),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), bias=f32(3)), ValueError, "bias"),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), bias=f32(1, 2)), ValueError, "bias"),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), bias=f64(2)), TypeError, "bias"),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), bias=[1.0, 2.0]), TypeError, "bias"),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), activation=3), ValueError, "activation"),
        (lambda: native.gemm(f32(2, 3), f32(3, 2), activation=-1), ValueError, "activation"),
        (lambda: native.gemm(f32(2, 3).astype(">f4"), f32(3, 2).astype(">f4")), TypeError, "byte order"),
        (lambda: native.gemm(np.asmatrix(f32(2, 2)), f32(2, 2)), TypeError, "matrix"),
        (lambda: native.relu(np.ma.masked_array(f32(3), mask=[0, 1, 0])), TypeError, "MaskedArray"),
        (lambda: native.bmm(f32(2, 3, 4), f32(3, 4, 5)), ValueError, "batch"),
        (lambda: native.bmm(f32(2, 3, 4), f32(2, 5, 5)), ValueError, "inner dimensions"),
        (lambda: native.relu(f32(3).astype(np.int64)), TypeError, "x must be float32"),
        (lambda: native.relu(f32(4, 4)[:, ::2]), ValueError, "C-contiguous"),
        (lambda: native.gelu([1.0, 2.0]), TypeError, "ndarray"),
        (lambda: native.add(f32(3), f32(4)), ValueError, "same shape"),
        (lambda: native.add(f32(3), f64(3)), TypeError, "same dtype"),
        (lambda: native.mul(f32(2, 3), f32(3, 2)), ValueError, "same shape"),
        (lambda: native.relu_backward(f32(3), f32(1, 3)), ValueError, "grad and x"),
        (lambda: native.tanh_backward(f32(3), f64(3)), TypeError, "grad and y"),
        (lambda: native.add_bias(f32(2, 3), f32(2)), ValueError, "b must be 1-D of length 3"),
        (lambda: native.add_bias(f32(2, 3), f32(1, 3)), ValueError, "b must be 1-D"),
        (lambda: native.add_bias(f32(2, 3), f64(3)), TypeError, "same dtype"),
        (lambda: native.add_bias(np.ones((), np.float32), f32(1)), ValueError, "0-D"),
        (lambda: native.sum_rows(np.ones((), np.float32)), ValueError, "0-D"),
        (lambda: native.softmax(f32(3, 4)[:, ::2]), ValueError, "C-contiguous"),
        (lambda: native.softmax_backward(f32(3, 4), f32(4, 3)), ValueError, "same shape"),
        (lambda: native.layer_norm(f32(2, 3), f32(2), None, 1e-5), ValueError, "weight"),
        (lambda: native.layer_norm(f32(2, 3), None, f64(3), 1e-5), TypeError, "bias"),
        (lambda: native.layer_norm(f32(2, 3), None, None, -1.0), ValueError, "eps"),
        (lambda: native.layer_norm_backward(f32(2, 3), f32(2, 3), f32(4), 1e-5), ValueError, "weight"),
    ],
)
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.asmatrix
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_unaligned_input_accepted():
    buf = np.zeros(4 * 7 + 1, dtype=np.uint8)
    x = np.frombuffer(buf.data, dtype=np.float32, count=7, offset=1)
    assert not x.flags.aligned
    x[...] = np.arange(-3, 4)
    np.testing.assert_array_equal(native.relu(x), np.maximum(x, 0))
