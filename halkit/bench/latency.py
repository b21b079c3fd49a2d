"""The seed's latency benchmark: one HALLinear layer (default 64x512 -> 512) per backend vs nn.Linear.

Two figures per variant, each the median of interleaved rounds:
* forward: one forward of the batch under ``torch.no_grad()`` (inference latency);
* step: end-to-end batch latency of training — forward, loss, backward, SGD step.
The HAL variants share nn.Linear's initial weights, so their outputs are checked equal first.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from halkit import hal

from .runner import resolve_backends
from .timing import interleaved, loop_sampler

TORCH = "torch"


class LatencyResults(list):
    """Rows {variant, backend, forward_s, step_s, forward_vs_torch, step_vs_torch} with a text table."""

    def table(self) -> str:
        lines = [f"{'variant':<22}{'forward':>12}{'train step':>13}{'fwd x torch':>13}{'step x torch':>14}"]
        for r in self:
            lines.append(f"{r['variant']:<22}{r['forward_s'] * 1e3:>10.3f}ms{r['step_s'] * 1e3:>11.3f}ms"
                         f"{r['forward_vs_torch']:>13.2f}{r['step_vs_torch']:>14.2f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.table())}</pre>"


def linear_latency(batch: int = 64, in_features: int = 512, out_features: int = 512, backends=None,
                   rounds: int = 9, min_time: float = 0.1, seed: int = 0) -> LatencyResults:
    """Forward and train-step latency of nn.Linear and of HALLinear on each HAL backend, interleaved."""
    from halkit import HALLinear

    names, _notes = resolve_backends(backends)
    torch.manual_seed(seed)
    x = torch.randn(batch, in_features)
    target = torch.randn(batch, out_features)
    reference = nn.Linear(in_features, out_features)
    layers = {}
    for name in names:
        layer = reference if name == TORCH else HALLinear(in_features, out_features)
        layer.load_state_dict(reference.state_dict())
        layers[name] = layer
        with torch.no_grad(), _selected(name):
            torch.testing.assert_close(layer(x), reference(x), rtol=1e-4, atol=1e-4)

    def forward(name):
        layer = layers[name]

        def call():
            with torch.no_grad(), _selected(name):
                layer(x)

        return loop_sampler(call)

    def step(name):
        layer = layers[name]
        optimizer = torch.optim.SGD(layer.parameters(), lr=1e-4)

        def call():
            with _selected(name):
                loss = nn.functional.mse_loss(layer(x), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

        return loop_sampler(call)

    fwd = interleaved({n: forward(n) for n in names}, rounds, min_time)
    stp = interleaved({n: step(n) for n in names}, rounds, min_time)
    ref_f = fwd[TORCH].median if TORCH in fwd else None
    ref_s = stp[TORCH].median if TORCH in stp else None
    return LatencyResults(
        {
            "variant": "nn.Linear (torch)" if n == TORCH else f"HALLinear on {n}", "backend": n,
            "forward_s": fwd[n].median, "step_s": stp[n].median,
            "forward_vs_torch": ref_f / fwd[n].median if ref_f else float("nan"),
            "step_vs_torch": ref_s / stp[n].median if ref_s else float("nan"),
        }
        for n in names
    )


def _selected(name: str):
    return contextlib.nullcontext() if name == TORCH else hal.use(name)
