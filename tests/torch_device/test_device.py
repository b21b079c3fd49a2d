"""The device itself: names, copies both ways in every layout and dtype, memory, streams, random numbers."""
import numpy as np
import pytest
import torch

import halkit.hal as hal
import halkit.torch.device as device

DTYPES = [torch.float32, torch.float64, torch.int64, torch.int32, torch.bool, torch.bfloat16, torch.uint8]


def _sample(dtype, shape=(3, 5)):
    if dtype == torch.bool:
        return torch.rand(shape) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype)
    return torch.randint(0, 100, shape, dtype=dtype)


def test_the_device_is_registered_as_torch_halkit():
    assert torch.device("halkit").type == "halkit"
    assert torch.halkit.device_count() == 1 and torch.halkit.is_available()
    t = torch.zeros(2, device="halkit")
    assert t.device == torch.device("halkit:0") and t.is_halkit


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_keeps_values_and_dtype(driver, dtype):
    x = _sample(dtype)
    y = x.to("halkit")
    assert y.dtype == dtype and y.device.type == "halkit"
    assert torch.equal(y.cpu(), x)


@pytest.mark.parametrize("layout", ["transposed", "sliced", "expanded", "strided_step", "channels_last"])
def test_copies_of_views_in_both_directions(driver, layout):
    base = torch.randn(4, 6, 5, 3)
    views = {
        "transposed": lambda t: t.transpose(1, 3),
        "sliced": lambda t: t[1:3, ::2, 1:],
        "expanded": lambda t: t[:, :1].expand(4, 6, 5, 3),
        "strided_step": lambda t: t[::2, :, ::3],
        "channels_last": lambda t: t.contiguous(memory_format=torch.channels_last),
    }
    view = views[layout]
    on_device = base.to("halkit")
    assert torch.equal(view(on_device).cpu(), view(base))  # device view -> host
    assert torch.equal(view(base).to("halkit").cpu(), view(base))  # host view -> device
    assert torch.equal(view(on_device).contiguous().cpu(), view(base).contiguous())  # device -> device


def test_writing_into_a_slice_keeps_the_rest(driver):
    x = torch.randn(5, 6)
    y = x.to("halkit")
    y[1:4, 2] = torch.tensor([7.0, 8.0, 9.0])  # host -> strided device destination
    y[:, 0].copy_(y[:, 5])  # device -> strided device destination
    x[1:4, 2] = torch.tensor([7.0, 8.0, 9.0])
    x[:, 0].copy_(x[:, 5])
    assert torch.equal(y.cpu(), x)


def test_item_and_tolist_copy_to_the_host(driver):
    y = torch.arange(6.0).reshape(2, 3).to("halkit")
    assert y[1, 2].item() == 5.0
    assert y.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_factories_fill_on_the_device(driver):
    assert torch.equal(torch.zeros(2, 3, device="halkit").cpu(), torch.zeros(2, 3))
    assert torch.equal(torch.ones(4, device="halkit", dtype=torch.float64).cpu(), torch.ones(4, dtype=torch.float64))
    assert torch.equal(torch.full((2, 2), 3.5, device="halkit").cpu(), torch.full((2, 2), 3.5))
    assert device.fallback_counts() == {}


def test_random_numbers_follow_the_device_generator(driver):
    torch.halkit.manual_seed(7)
    a = torch.randn(1000, device="halkit").cpu()
    b = torch.rand(1000, device="halkit").cpu()
    torch.manual_seed(7)  # torch.manual_seed seeds the halkit generator too
    assert torch.equal(torch.randn(1000, device="halkit").cpu(), a)
    assert torch.equal(torch.rand(1000, device="halkit").cpu(), b)
    assert not torch.equal(torch.randn(1000, device="halkit").cpu(), a)  # consecutive draws differ
    assert abs(a.mean().item()) < 0.1 and abs(a.std().item() - 1) < 0.1
    assert 0 <= b.min().item() and b.max().item() < 1
    generator = torch.Generator(device="halkit").manual_seed(3)
    first = torch.randn(10, device="halkit", generator=generator).cpu()
    state = torch.halkit.get_rng_state()
    torch.halkit.set_rng_state(state)
    assert torch.equal(torch.randn(10, device="halkit", generator=generator.manual_seed(3)).cpu(), first)
    assert device.fallback_counts() == {}


def test_memory_allocated_counts_live_storages(driver):
    before = torch.halkit.memory_allocated()
    t = torch.empty(1000, device="halkit")
    assert torch.halkit.memory_allocated() == before + 4000
    del t
    assert torch.halkit.memory_allocated() == before


def test_storage_resize_keeps_contents(driver):
    t = torch.arange(4.0).to("halkit")
    t.resize_(10)
    assert torch.equal(t[:4].cpu(), torch.arange(4.0))


def test_streams_and_events_are_the_hals(driver):
    s = torch.halkit.Stream()
    assert isinstance(s, hal.Stream)
    with s:
        assert torch.halkit.current_stream().handle == s.handle
        y = torch.ones(3, device="halkit") * 2
        event = torch.halkit.Event()
        event.record()
    event.synchronize()
    assert event.query()
    torch.halkit.synchronize()
    assert torch.equal(y.cpu(), torch.full((3,), 2.0))


def test_ops_use_the_driver_holding_their_tensors():
    with device.use("numpy"):
        a = torch.ones(3, device="halkit")
        assert device.as_array(a).driver.name == "numpy"
    with device.use("native"):
        b = torch.ones(3, device="halkit")
        c = b * 2  # native storage, native result
        assert device.as_array(c).driver.name == "native"
        assert torch.equal((a + b).cpu(), torch.full((3,), 2.0))  # across drivers: moved through the host


def test_device_arrays_view_the_tensor_storage_without_copies(driver):
    t = torch.arange(12.0).reshape(3, 4).to("halkit")
    array = device.as_array(t[1])  # a contiguous row: a view of the same allocation
    assert array.shape == (4,) and np.array_equal(array.numpy(), [4.0, 5.0, 6.0, 7.0])
    back = device.as_tensor(hal.relu(array))
    assert back.device.type == "halkit" and torch.equal(back.cpu(), torch.tensor([4.0, 5.0, 6.0, 7.0]))
