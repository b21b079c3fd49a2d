"""Train a small MLP on scikit-learn's handwritten digits: HALLinear vs nn.Linear, side by side.

The data set ships inside scikit-learn (1797 8x8 images), so nothing is
downloaded. Two models built from the same seed get the same initial weights
(HALLinear *is* an nn.Linear with another forward) and see the same batches in
the same order, so their loss curves should overlap up to float32 rounding:
any real divergence is a bug in a HAL kernel or its backward.

Variants are trained epoch by epoch in turn (A, B, A, B, ...), like the
benchmark's interleaved rounds, so per-epoch times compare fairly on a noisy
machine. A checkpoint after every epoch (``torch.save``, read back with
``torch.load(weights_only=True)``) lets an interrupted run resume exactly.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

#: Layer widths of the digits MLP: 64 pixels -> 128 -> 128 -> 10 classes.
DIGITS_MLP = (64, 128, 128, 10)
#: The variant name meaning "plain torch.nn.Linear"; any other name is a HAL backend running HALLinear.
TORCH = "torch"


@dataclass(frozen=True)
class Digits:
    x_train: torch.Tensor  # (n, 64) float32, pixels scaled to [0, 1]
    y_train: torch.Tensor  # (n,) int64 class labels
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Digits:
    """scikit-learn's digits, split stratified and reproducibly into train and test."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    images, labels = sklearn_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images / 16.0, labels, test_size=test_fraction, random_state=seed, stratify=labels)

    def tensor(a, dtype):
        return torch.as_tensor(a, dtype=dtype).contiguous()

    return Digits(tensor(x_train, torch.float32), tensor(y_train, torch.int64),
                  tensor(x_test, torch.float32), tensor(y_test, torch.int64))


def make_mlp(variant: str = TORCH, sizes=DIGITS_MLP, seed: int = 0) -> nn.Sequential:
    """Linear/ReLU stack with ``sizes`` widths: nn.Linear for "torch", HALLinear otherwise; same seed, same weights."""
    if variant == TORCH:
        linear = nn.Linear
    else:
        from halkit import HALLinear as linear
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Trainer:
    """One model, its optimizer and its per-epoch history; ``run_epoch()`` trains one more epoch.

    ``variant`` is "torch" (nn.Linear) or a HAL backend name ("numpy", "native", ...) under which
    a HALLinear model runs. With ``checkpoint`` set, an existing checkpoint is resumed from and a
    new one is written after each epoch.
    """

    def __init__(self, variant: str, data: Digits, *, batch_size: int = 64, lr: float = 0.05,
                 momentum: float = 0.9, seed: int = 0, checkpoint: str | Path | None = None):
        if variant != TORCH:
            from halkit import hal

            if variant not in hal.backends():
                raise ValueError(f"unknown variant {variant!r}: use {TORCH!r} (nn.Linear) or a HAL backend "
                                 f"from {hal.backends()}")
        self.variant, self.data, self.batch_size, self.seed = variant, data, batch_size, seed
        self.model = make_mlp(variant, seed=seed)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum)
        self.history: list[dict] = []
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        if self.checkpoint is not None and self.checkpoint.exists():
            self._restore()

    @property
    def epoch(self) -> int:
        """Epochs trained so far (including those restored from a checkpoint)."""
        return len(self.history)

    def run_epoch(self) -> dict:
        """Train one epoch; return (and append to history) its loss, test accuracy and timings."""
        order = torch.randperm(len(self.data.y_train), generator=torch.Generator().manual_seed(self.seed + self.epoch))
        losses, step_times = [], []
        self.model.train()
        with self._backend():
            start = time.perf_counter()
            for batch in order.split(self.batch_size):
                step_start = time.perf_counter()
                loss = nn.functional.cross_entropy(self.model(self.data.x_train[batch]), self.data.y_train[batch])
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                step_times.append(time.perf_counter() - step_start)
                losses.append(loss.item() * len(batch))
            seconds = time.perf_counter() - start
            test_loss, accuracy = self.evaluate()
        stats = {
            "epoch": self.epoch + 1, "variant": self.variant,
            "loss": sum(losses) / len(order), "test_loss": test_loss, "test_accuracy": accuracy,
            "epoch_s": seconds, "step_s": statistics.median(step_times),
        }
        self.history.append(stats)
        if self.checkpoint is not None:
            self._save()
        return stats

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """(test loss, test accuracy) of the current model."""
        self.model.eval()
        with self._backend():
            logits = self.model(self.data.x_test)
        loss = nn.functional.cross_entropy(logits, self.data.y_test).item()
        return loss, (logits.argmax(1) == self.data.y_test).float().mean().item()

    def _backend(self):
        if self.variant == TORCH:
            return contextlib.nullcontext()
        from halkit import hal

        return hal.use(self.variant)

    def _save(self) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "history": self.history, "variant": self.variant, "seed": self.seed}
        partial = self.checkpoint.with_name(self.checkpoint.name + ".partial")
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, partial)
        os.replace(partial, self.checkpoint)  # atomic: an interruption never leaves a half-written checkpoint

    def _restore(self) -> None:
        state = torch.load(self.checkpoint, weights_only=True)
        if state["variant"] != self.variant or state["seed"] != self.seed:
            raise ValueError(f"checkpoint {self.checkpoint} is for variant {state['variant']!r} seed {state['seed']}, "
                             f"not {self.variant!r} seed {self.seed}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = list(state["history"])


def train_side_by_side(variants, data: Digits, epochs: int, *, checkpoint_dir: str | Path | None = None,
                       stop_after: int | None = None, on_epoch=None, **trainer_kwargs) -> dict[str, Trainer]:
    """Train one Trainer per variant up to ``epochs``, interleaving epochs (A, B, A, B, ...).

    checkpoint_dir: one checkpoint per variant there; a re-run resumes where the last one stopped.
    stop_after: stop (as if interrupted) after this many epochs in this call.
    on_epoch(stats): called after every epoch of every variant (the dashboards' hook).
    """
    trainers = {
        v: Trainer(v, data, checkpoint=None if checkpoint_dir is None else Path(checkpoint_dir) / f"digits-{v}.pt",
                   **trainer_kwargs)
        for v in variants
    }
    done_here = 0
    while any(t.epoch < epochs for t in trainers.values()) and (stop_after is None or done_here < stop_after):
        for trainer in trainers.values():
            if trainer.epoch < epochs:
                stats = trainer.run_epoch()
                if on_epoch is not None:
                    on_epoch(stats)
        done_here += 1
    return trainers


def loss_gap(a: list[dict], b: list[dict], key: str = "loss") -> float:
    """Largest relative difference between two histories' per-epoch ``key``: |a - b| / |b|."""
    if len(a) != len(b):
        raise ValueError(f"histories differ in length: {len(a)} vs {len(b)} epochs")
    return max(abs(x[key] - y[key]) / abs(y[key]) for x, y in zip(a, b))
