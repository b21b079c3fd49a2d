"""HALLinear under torch.autocast("cpu", dtype=torch.bfloat16) computes in bfloat16 through the HAL, as torch's
nn.Linear does under autocast: checked against nn.Linear (forward and every gradient), and checked to hand the
HAL bfloat16 arrays (not a float32 GEMM with a cast result) on drivers that declare bfloat16 GEMMs.
"""
import ml_dtypes
import numpy as np
import pytest
import torch
from torch import nn

import halkit
import halkit.hal as hal
from halkit import HALLinear

BF16 = np.dtype(ml_dtypes.bfloat16)
DRIVERS = [name for name in ("numpy", "native") if name in hal.backends()]


def twins(in_features, out_features, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.Linear(in_features, out_features, bias=bias)
    ours = HALLinear(in_features, out_features, bias=bias)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def bf16_close(got, want):
    """Within two bfloat16 steps of torch's own bfloat16 result (both sum in float32, in different orders)."""
    assert got.dtype == want.dtype
    scale = want.float().abs().max().item() + 1e-6
    torch.testing.assert_close(got.float(), want.float(), rtol=2**-6, atol=2**-7 * scale)


@pytest.fixture
def hal_dtypes(monkeypatch):
    """The dtypes of the x arrays hal.linear receives."""
    seen = []
    real = hal.linear

    def spy(x, *args, **kwargs):
        seen.append(np.dtype(x.dtype))
        return real(x, *args, **kwargs)
    monkeypatch.setattr(hal, "linear", spy)
    return seen


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("shape,features", [((1, 8), (8, 4)), ((7, 5, 64), (64, 33)), ((16, 300), (300, 129))])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_and_gradients_match_nn_linear_under_autocast(driver, shape, features, bias, hal_dtypes):
    ref, ours = twins(*features, bias=bias)
    x = torch.randn(*shape)
    xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
    with hal.use(driver), torch.autocast("cpu", dtype=torch.bfloat16):
        want, got = ref(xr), ours(xo)
        assert got.dtype == torch.bfloat16
        bf16_close(got, want)
        seed = torch.randn_like(want.float())
        (want.float() * seed).sum().backward()
        (got.float() * seed).sum().backward()
    assert hal_dtypes and set(hal_dtypes) == {BF16}  # the GEMM ran in bfloat16, not float32 + a cast
    for mine, theirs in ((xo.grad, xr.grad), (ours.weight.grad, ref.weight.grad)) + (
            ((ours.bias.grad, ref.bias.grad),) if bias else ()):
        assert mine.dtype == theirs.dtype == torch.float32  # float32 leaves get float32 gradients
        bf16_close(mine.to(torch.bfloat16), theirs.to(torch.bfloat16))


@pytest.mark.parametrize("activation,torch_fn", [("relu", torch.relu), ("gelu", nn.functional.gelu)])
def test_fused_activation_applies_to_the_bfloat16_result(activation, torch_fn):
    torch.manual_seed(1)
    x, w, b = torch.randn(6, 40), torch.randn(24, 40), torch.randn(24)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = halkit.torch.linear(x, w, b, activation)
        want = torch_fn(nn.functional.linear(x, w, b))
    bf16_close(got, want)


def test_a_driver_without_bfloat16_gemms_computes_in_float32(hal_dtypes):
    if "mock" not in hal.backends():
        pytest.skip("the mock device is not registered")
    assert not hal.get_backend("mock").capabilities().supports("gemm", BF16)
    ref, ours = twins(16, 8)
    x = torch.randn(3, 16)
    with hal.use("mock"), torch.autocast("cpu", dtype=torch.bfloat16):
        got = ours(x)
        want = ref(x)
    assert got.dtype == torch.bfloat16 and set(hal_dtypes) == {np.dtype(np.float32)}
    bf16_close(got, want)


def test_converted_model_trains_under_autocast():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
    converted = halkit.convert(model)
    x, target = torch.randn(20, 32), torch.randint(0, 10, (20,))
    losses = []
    opt = torch.optim.SGD(converted.parameters(), lr=0.1)
    for _ in range(20):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(converted(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.dtype == torch.float32 for p in converted.parameters())
    assert losses[-1] < 0.5 * losses[0]
