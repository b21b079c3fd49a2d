"""Misuse is refused the way torch refuses it: device mismatches, host reads of device memory, strict mode."""
import numpy as np
import pytest
import torch

import halkit
import halkit.hal as hal
import halkit.torch.device as device

MISMATCH = "Expected all tensors to be on the same device"


@pytest.mark.parametrize("op", [
    lambda a, b: a + b,  # a halkit kernel
    lambda a, b: a @ b,  # a halkit kernel
    lambda a, b: torch.atan2(a, b),  # no halkit kernel: the CPU fallback checks too
    lambda a, b: torch.cat([a, b]),  # a tensor-list argument
])
def test_mixing_cpu_and_halkit_tensors_is_torchs_device_error(mock, op):
    a, b = torch.randn(3, 3), torch.randn(3, 3).to("halkit")
    with pytest.raises(RuntimeError, match=MISMATCH):
        op(a, b)
    with pytest.raises(RuntimeError, match=MISMATCH):
        op(b, a)


def test_a_cpu_scalar_tensor_is_a_scalar_as_in_torch(mock):
    y = torch.ones(3).to("halkit") * torch.tensor(2.5)
    assert torch.equal(y.cpu(), torch.full((3,), 2.5))


def test_the_host_cannot_read_device_memory(mock):
    t = torch.ones(4, device="halkit")
    with pytest.raises(TypeError, match="halkit"):
        t.numpy()
    with pytest.raises(TypeError, match="halkit"):
        np.asarray(t)
    assert t.data_ptr() != 0  # an address, reserved and never readable: the bytes live on the device


def test_a_fallback_is_counted_per_op(mock):
    x = torch.randn(4).to("halkit")
    torch.atan2(x, x)
    torch.atan2(x, x)
    assert device.fallback_counts() == {"aten::atan2.out": 2}  # torch's functional atan2 calls its out= form
    assert torch.allclose(torch.atan2(x, x).cpu(), torch.atan2(x.cpu(), x.cpu()))


@pytest.mark.parametrize("call", [
    lambda x: torch.atan2(x, x),  # torch's boxed CPU fallback (C++)
    lambda x: x.to(torch.int64) + 1,  # a halkit kernel handing an integer case to the host (Python)
])
def test_strict_mode_turns_a_fallback_into_an_error_naming_the_op(mock, call):
    x = torch.randn(4).to("halkit")
    with halkit.strict():
        with pytest.raises(hal.FallbackError, match="aten::"):
            call(x)
    call(x)  # outside strict mode it runs, counted


def test_strict_mode_from_the_environment(mock, monkeypatch):
    monkeypatch.setenv("HALKIT_STRICT", "1")
    with pytest.raises(hal.FallbackError, match="atan2"):
        torch.atan2(torch.ones(2, device="halkit"), torch.ones(2, device="halkit"))


def test_in_place_fallbacks_write_back_to_the_device(mock):
    x = torch.tensor([1.5, -2.5, 3.0]).to("halkit")
    x.floor_()  # no halkit kernel: computed on the CPU, written back into the device tensor
    assert torch.equal(x.cpu(), torch.tensor([1.0, -3.0, 3.0]))
    assert list(device.fallback_counts()) == ["aten::floor.out"] 


def test_views_without_a_kernel_are_refused_not_copied(mock):
    x = torch.randn(6).to("halkit")
    with pytest.raises(RuntimeError, match="view"):
        torch.view_as_complex(x.reshape(3, 2))


def test_a_second_device_index_is_refused(mock):
    with pytest.raises(RuntimeError, match="halkit:0"):
        torch.zeros(2, device="halkit:1")
