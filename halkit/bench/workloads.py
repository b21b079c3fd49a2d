"""The real models of ``python -m halkit.bench models``: what is built, with which inputs.

* ``resnet18``: ResNet-18 (see resnet.py), batch 8, 3x64x64 images, 1000 classes;
* ``bert``: a BERT encoder, ``transformers.BertModel(BertConfig(num_hidden_layers=2, hidden_size=128,
  num_attention_heads=2, intermediate_size=512))`` without the pooler, batch 8, sequence 128, random token ids;
  dropout is set to 0 so that a training step is deterministic and every route can be checked against eager.

Weights are random (seeded); nothing is downloaded. ``size="tiny"`` is for tests: the same architectures
and code paths, not the issue's workloads. Tiny ResNet-18 keeps the 64x64 images (so every layer sees the
spatial sizes it sees in the real run, down to layer4's 2x2) at width 4, batch 2; tiny BERT is one layer,
hidden 32, sequence 16, a 100-token vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .resnet import ResNet18

SIZES = ("standard", "tiny")


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    build: Callable[[], nn.Module]  # a fresh model, random weights from the current torch seed
    inputs: Callable[[torch.Generator], tuple[torch.Tensor, ...]]


class BertEncoder(nn.Module):
    """BertModel without the pooler, returning the last hidden state (a tensor, so every route compares alike)."""

    def __init__(self, hidden: int, layers: int, heads: int, intermediate: int, vocab: int = 30522):
        super().__init__()
        from transformers import BertConfig, BertModel  # imported only when BERT is benchmarked (~10 s)

        config = BertConfig(vocab_size=vocab, num_hidden_layers=layers, hidden_size=hidden,
                            num_attention_heads=heads, intermediate_size=intermediate,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        self.bert = BertModel(config, add_pooling_layer=False)

    def forward(self, input_ids):
        return self.bert(input_ids).last_hidden_state


def workloads(size: str = "standard") -> dict[str, Workload]:
    """{name: Workload} at ``size`` ("standard": the issue's workloads; "tiny": for tests)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    tiny = size == "tiny"
    batch, image, width, classes = (2, 64, 4, 10) if tiny else (8, 64, 64, 1000)
    seq, hidden, layers, heads, ffn, vocab = (16, 32, 1, 2, 64, 100) if tiny else (128, 128, 2, 2, 512, 30522)
    return {
        "resnet18": Workload(
            "resnet18", f"ResNet-18{' (tiny: width 4)' if tiny else ''}, batch {batch}, 3x{image}x{image}",
            lambda: ResNet18(num_classes=classes, width=width),
            lambda g: (torch.randn(batch, 3, image, image, generator=g),)),
        "bert": Workload(
            "bert", f"BERT encoder, {layers} layer(s), hidden {hidden}, {heads} heads, ffn {ffn}; batch {batch}, "
                    f"seq {seq}, dropout 0",
            lambda: BertEncoder(hidden, layers, heads, ffn, vocab),
            lambda g: (torch.randint(0, vocab, (batch, seq), generator=g),)),
    }


MODELS = tuple(workloads())
