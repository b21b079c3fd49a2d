"""halkit.training: data, same-seed models, side-by-side training, checkpoint and exact resume."""
import pytest
import torch

import halkit
from halkit import bench, hal, training

HAL_VARIANT = "native" if "native" in hal.backends() else "numpy"


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny layers: a second thread only adds contention on a shared machine (and never changes results)."""
    with bench.pinned_threads(1):
        yield


@pytest.fixture(scope="module")
def data():
    return training.load_digits()


def test_digits_split_is_stratified_and_scaled(data):
    assert data.x_train.shape == (1347, 64) and data.x_test.shape == (450, 64)
    assert data.x_train.dtype == torch.float32 and 0 <= data.x_train.min() and data.x_train.max() <= 1
    assert torch.bincount(data.y_test).min() >= 40  # every class in the test set


def test_same_seed_gives_the_same_weights_for_both_layer_types():
    ref, hal_model = training.make_mlp("torch", seed=3), training.make_mlp(HAL_VARIANT, seed=3)
    assert isinstance(hal_model[0], halkit.HALLinear) and not isinstance(ref[0], halkit.HALLinear)
    for (k1, v1), (k2, v2) in zip(ref.state_dict().items(), hal_model.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)


def test_hal_training_follows_nn_linear(data):
    trainers = training.train_side_by_side(["torch", HAL_VARIANT], data, epochs=3)
    history, reference = trainers[HAL_VARIANT].history, trainers["torch"].history
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert training.loss_gap(history, reference) < 1e-4
    assert history[-1]["loss"] < history[0]["loss"]


def test_interrupted_run_resumes_exactly(data, tmp_path):
    kwargs = dict(data=data, epochs=4, checkpoint_dir=tmp_path)
    first = training.train_side_by_side(["torch", HAL_VARIANT], stop_after=2, **kwargs)
    assert all(t.epoch == 2 for t in first.values())
    resumed = training.train_side_by_side(["torch", HAL_VARIANT], **kwargs)
    straight = training.train_side_by_side(["torch", HAL_VARIANT], data, epochs=4)
    for variant in straight:
        assert [h["loss"] for h in resumed[variant].history] == [h["loss"] for h in straight[variant].history]
    state = torch.load(tmp_path / "digits-torch.pt", weights_only=True)
    assert set(state) == {"model", "optimizer", "history", "variant", "seed"} and len(state["history"]) == 4
    assert not list(tmp_path.glob("*.partial"))


def test_checkpoint_of_another_variant_is_refused(data, tmp_path):
    training.Trainer("torch", data, checkpoint=tmp_path / "ckpt.pt").run_epoch()
    with pytest.raises(ValueError, match="is for variant 'torch'"):
        training.Trainer(HAL_VARIANT, data, checkpoint=tmp_path / "ckpt.pt")


def test_unknown_variant_is_a_clear_error(data):
    with pytest.raises(ValueError, match="unknown variant 'tpu'"):
        training.Trainer("tpu", data)


def test_loss_gap_needs_equal_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        training.loss_gap([{"loss": 1.0}], [])
