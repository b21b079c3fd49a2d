"""The mock HAL backend: same results as numpy, weights resident between calls and never stale.

The full op conformance suite (tests/hal) runs on the mock backend too, once it is registered.
"""
import numpy as np
import pytest

import halkit.device as hd
import halkit.hal as hal
from halkit.device.hal_backend import MockBackend

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fresh_mock():
    """A private MockBackend on its own device, so the counts below start at zero."""
    with hd.Device("a100-pcie", memory_bytes=1 << 26) as device:
        yield MockBackend(device)


def _linear_on(backend, x, w, b):
    return backend.gemm(x, w, False, True, b, "relu")


def test_registered_and_matches_numpy_on_every_op(mock_backend, rng):
    x = rng.standard_normal((8, 16)).astype(np.float32)
    w = rng.standard_normal((4, 16)).astype(np.float32)
    g = rng.standard_normal((8, 16)).astype(np.float32)
    v = rng.standard_normal(16).astype(np.float32)
    cases = [
        ("linear", (x, w, v[:4], "gelu")), ("matmul", (x, w.T.copy())), ("relu", (x,)), ("gelu", (x,)),
        ("add_bias", (x, v)), ("sum_rows", (x,)), ("softmax", (x,)), ("layer_norm", (x, v, v)),
        ("add", (x, g)), ("mul", (x, g)), ("relu_backward", (g, x)), ("gelu_backward", (g, x)),
    ]
    for name, args in cases:
        with hal.use("numpy"):
            expected = getattr(hal, name)(*args)
        with hal.use("mock"):
            got = getattr(hal, name)(*args)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=name)
    with hal.use("mock"):
        conv = hal.conv2d(rng.standard_normal((1, 2, 5, 5)).astype(np.float32),
                          rng.standard_normal((3, 2, 3, 3)).astype(np.float32), padding=1)
    assert conv.shape == (1, 3, 5, 5)


def test_second_forward_with_unchanged_weights_does_not_upload_them(fresh_mock, rng):
    x = rng.standard_normal((64, 512)).astype(np.float32)
    w = rng.standard_normal((512, 512)).astype(np.float32)
    b = rng.standard_normal(512).astype(np.float32)
    first = _linear_on(fresh_mock, x, w, b)
    after_first = fresh_mock.stats()
    second = _linear_on(fresh_mock, x, w, b)
    after_second = fresh_mock.stats()
    assert after_first["uploads"] == 3  # x, w, b
    assert after_second["uploads"] - after_first["uploads"] == 1  # only x
    assert after_second["upload_bytes"] - after_first["upload_bytes"] == x.nbytes
    assert after_second["resident_hits"] == 2
    np.testing.assert_array_equal(first, second)


def test_in_place_weight_update_is_seen(fresh_mock, rng):
    x = rng.standard_normal((4, 8)).astype(np.float32)
    w = rng.standard_normal((3, 8)).astype(np.float32)
    b = np.zeros(3, np.float32)
    _linear_on(fresh_mock, x, w, b)
    w -= 0.5  # what an optimizer step does: same address, new contents
    np.testing.assert_allclose(_linear_on(fresh_mock, x, w, b), np.maximum(x @ w.T, 0), rtol=1e-6, atol=1e-6)
    assert fresh_mock.stats()["resident_refreshes"] == 1
    w[0, 0] = -0.0 if w[0, 0] == 0 else w[0, 0]  # unchanged bits: still a hit
    _linear_on(fresh_mock, x, w, b)
    assert fresh_mock.stats()["resident_refreshes"] == 1


def test_sign_of_zero_counts_as_a_change(fresh_mock):
    x = np.full((1, 1), -0.0, np.float32)
    b = np.zeros(1, np.float32)  # add_bias keeps b resident
    assert not np.signbit(fresh_mock.add_bias(x, b)[0, 0])  # -0 + +0 = +0
    b[0] = -0.0  # equal as floats, different bits (1/-0 is -inf): must be re-uploaded
    assert np.signbit(fresh_mock.add_bias(x, b)[0, 0])  # -0 + -0 = -0


def test_a_new_array_at_a_reused_address_is_not_confused_with_the_old_one(fresh_mock, rng):
    x = rng.standard_normal((2, 6)).astype(np.float32)
    for _ in range(20):  # freed and reallocated weights often land at the same address
        w = rng.standard_normal((5, 6)).astype(np.float32)
        np.testing.assert_allclose(fresh_mock.gemm(x, w, False, True, None, None), x @ w.T, rtol=1e-5, atol=1e-6)


def test_residency_is_bounded_and_evicts(rng):
    with hd.Device("a100-pcie", memory_bytes=1 << 24) as device:
        backend = MockBackend(device, residency_bytes=3 * 4096 * 4)
        x = rng.standard_normal((2, 4096)).astype(np.float32)
        weights = [rng.standard_normal((1, 4096)).astype(np.float32) for _ in range(5)]
        for w in weights:
            backend.gemm(x, w, False, True, None, None)
        stats = backend.stats()
        assert stats["resident_evictions"] == 2 and stats["resident_bytes"] == 3 * 4096 * 4
        backend.release_resident()
        assert backend.stats()["resident_bytes"] == 0 and device.memory_stats()["used"] == 0


def test_resident_weights_give_way_when_memory_runs_out(rng):
    with hd.Device("a100-pcie", memory_bytes=9 << 20) as device:
        backend = MockBackend(device)
        w = rng.standard_normal((512, 1024)).astype(np.float32)  # 2 MiB, kept resident
        backend.gemm(rng.standard_normal((1, 1024)).astype(np.float32), w, False, True, None, None)
        big = rng.standard_normal((1, 1024 * 1024)).astype(np.float32)  # 4 MiB in + 4 MiB out: needs the room
        assert backend.relu(big).shape == big.shape
        assert backend.stats()["resident_evictions"] == 1


def test_device_failure_surfaces_from_an_op(rng):
    from halkit.hal.builtin.numpy_reference import NumpyBackend

    class Broken(NumpyBackend):
        def softmax(self, x):
            raise ArithmeticError("softmax unit on fire")
    with hd.Device("a100-pcie", memory_bytes=1 << 24, kernel_backend=Broken()) as device:
        backend = MockBackend(device)
        with pytest.raises(hd.StreamError, match="softmax unit on fire"):
            backend.softmax(np.ones((2, 2), np.float32))
        np.testing.assert_array_equal(backend.relu(np.ones(2, np.float32)), [1, 1])  # reported, then usable
        assert device.memory_stats()["used"] == 0  # temporaries freed on the error path too


def test_hal_linear_trains_the_same_under_mock_and_numpy(mock_backend):
    torch = pytest.importorskip("torch")
    halkit_torch = pytest.importorskip("halkit.torch")
    if not hasattr(halkit_torch, "HALLinear"):
        pytest.skip("halkit.torch.HALLinear not available yet")

    def train(backend):
        torch.manual_seed(0)
        with hal.use(backend):
            model = torch.nn.Sequential(halkit_torch.HALLinear(8, 16), torch.nn.ReLU(), halkit_torch.HALLinear(16, 1))
            opt = torch.optim.SGD(model.parameters(), lr=0.05)
            x, y = torch.randn(32, 8), torch.randn(32, 1)
            losses = []
            for _ in range(20):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses, [p.detach().clone() for p in model.parameters()]

    losses_np, params_np = train("numpy")
    losses_mock, params_mock = train("mock")
    np.testing.assert_allclose(losses_mock, losses_np, rtol=1e-5, atol=1e-6)
    for a, b in zip(params_mock, params_np):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert losses_mock[-1] < losses_mock[0]
