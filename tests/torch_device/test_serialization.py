"""torch.save of halkit tensors, modules and views; torch.load onto halkit or the CPU."""
import io

import pytest
import torch

import halkit.torch.device as device


def _saved(obj) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("map_location", ["halkit", "cpu", None])
def test_tensors_views_and_state_dicts_round_trip(driver, map_location):
    x = torch.randn(4, 5)
    model = torch.nn.Linear(5, 3)
    on_device = x.to("halkit")
    saved = _saved({"x": on_device, "view": on_device[:, 1:3], "model": model.to("halkit").state_dict()})
    loaded = torch.load(saved, map_location=map_location)
    expected_device = "cpu" if map_location == "cpu" else "halkit"
    assert loaded["x"].device.type == expected_device and torch.equal(loaded["x"].cpu(), x)
    assert torch.equal(loaded["view"].cpu(), x[:, 1:3])
    # the view still shares its base's storage, as it did when saved
    assert loaded["view"].untyped_storage().data_ptr() == loaded["x"].untyped_storage().data_ptr()
    restored = torch.nn.Linear(5, 3)
    restored.load_state_dict(loaded["model"])
    assert torch.equal(restored.weight, model.weight.cpu())
    assert device.fallback_counts() == {}


def test_a_cpu_checkpoint_loads_onto_the_device(driver):
    x = torch.randn(3, 3)
    loaded = torch.load(_saved(x), map_location="halkit")
    assert loaded.device.type == "halkit" and torch.equal(loaded.cpu(), x)
