"""HALLinear against nn.Linear, one layer at a time: what the eager torch adapter costs per call.

* :func:`eager_overhead` — issue 13's eager-overhead table: HALLinear on the current HAL backend vs
  nn.Linear, forward at batch 1 (1x64->64, no grad), forward+backward at 1x64->64, and forward at
  64x512->512; each a time ratio (HALLinear / nn.Linear) from one interleaved run, next to its target.
* :func:`linear_latency` — the seed's benchmark: one layer (default 64x512->512) per backend, an inference
  forward and a whole training step (forward, loss, backward, SGD), as speed-ups over nn.Linear.

Every HAL variant starts from nn.Linear's weights and its output is checked equal before anything is timed.
"""
from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
from dataclasses import dataclass

import torch
from torch import nn

from halkit import hal

from . import machine
from .load import LoadMonitor
from .results import Rows, duration, ratio_text, speedup
from .runner import resolve_backends
from .steps import backward_step, forward_step, training_step
from .threads import pinned_threads
from .timing import interleaved, loop_sampler

TORCH = "torch"
MODES = ("forward", "forward+backward", "train step")


@dataclass(frozen=True)
class LayerCase:
    batch: int
    in_features: int
    out_features: int
    mode: str  # one of MODES; "forward" runs under no_grad
    target: float | None = None  # the most HALLinear time / nn.Linear time may be (issue 13)

    @property
    def label(self) -> str:
        return f"{self.mode} {self.batch}x{self.in_features}->{self.out_features}"


EAGER_OVERHEAD_CASES = (
    LayerCase(1, 64, 64, "forward", target=1.3),
    LayerCase(1, 64, 64, "forward+backward", target=1.3),
    LayerCase(64, 512, 512, "forward", target=1.05),
)


def _time_layers(batch, in_features, out_features, modes, names, rounds, min_time, seed) -> dict[str, dict]:
    """{mode: {name: Timing}}: nn.Linear ("torch") and HALLinear on each HAL backend in ``names``, interleaved."""
    from halkit import HALLinear

    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    torch.manual_seed(seed)
    reference = nn.Linear(in_features, out_features)
    x = torch.randn(batch, in_features)
    x_grad = x.clone().requires_grad_()  # forward+backward: the input's gradient too, as in a hidden layer
    target = torch.randn(batch, out_features)
    layers = {}
    for name in names:
        layer = reference if name == TORCH else HALLinear(in_features, out_features)
        layer.load_state_dict(reference.state_dict())
        with torch.no_grad(), _selected(name):
            torch.testing.assert_close(layer(x), reference(x), rtol=1e-4, atol=1e-4)
        layers[name] = layer

    def step(mode, layer):
        if mode == "forward":
            return forward_step(layer, x)
        if mode == "forward+backward":
            return backward_step(layer, x_grad)
        return training_step(layer, x, target, lr=1e-4)

    return {mode: interleaved({n: loop_sampler(step(mode, layers[n]), lambda n=n: _selected(n)) for n in names},
                              rounds, min_time)
            for mode in modes}


class OverheadResults(Rows):
    """Rows {case, mode, batch, in_features, out_features, backend, halkit_s, torch_s, time_ratio, ...}."""

    COLUMNS = ("case", "mode", "batch", "in_features", "out_features", "backend", "threads",
               "halkit_s", "halkit_spread", "torch_s", "torch_spread", "rounds",
               "time_ratio", "significant", "target", "meets_target", "noisy")
    INTS = frozenset({"batch", "in_features", "out_features", "threads", "rounds"})
    FLOATS = frozenset({"halkit_s", "halkit_spread", "torch_s", "torch_spread", "time_ratio", "target"})
    BOOLS = frozenset({"significant", "meets_target", "noisy"})

    def table(self) -> str:
        lines = [f"# {key}: {value}" for key, value in self.meta.items() if key != "load"]
        if "load" in self.meta:
            lines.append(f"# machine load: {self.meta['load']['text']}")
        head = (f"{'case':<28}{'backend':<9}{'thr':>4}{'HALLinear':>12}{'spread':>8}{'nn.Linear':>12}{'spread':>8}"
                f"{'time ratio':>12}{'target':>8}  verdict")
        lines += [head, "-" * len(head)]
        for r in self:
            verdict = "-" if r["target"] is None else ("meets" if r["meets_target"] else "misses")
            lines.append(
                f"{r['case']:<28}{r['backend']:<9}{r['threads']:>4}{duration(r['halkit_s']):>12}"
                f"{r['halkit_spread']:>8.2f}{duration(r['torch_s']):>12}{r['torch_spread']:>8.2f}"
                f"{ratio_text(r['time_ratio'], r['significant']):>12}{_bound(r['target']):>8}  {verdict}"
                + ("  noisy" if r["noisy"] else ""))
        return "\n".join(lines)


def eager_overhead(cases=EAGER_OVERHEAD_CASES, backend: str | None = None, threads=None, rounds: int = 15,
                   min_time: float = 0.1, seed: int = 0) -> OverheadResults:
    """HALLinear on ``backend`` (default: the current HAL backend) vs nn.Linear for each case, one interleaved run
    per case; ``time_ratio`` = HALLinear median / nn.Linear median (below 1: HALLinear is faster).

    threads: thread counts to pin in turn (every pool, see pinned_threads); default: the current settings.
    """
    backend = backend or hal.current_backend()
    names, _notes = resolve_backends([backend, TORCH])
    rows, load = [], LoadMonitor()
    for count in threads or [None]:
        with contextlib.nullcontext() if count is None else pinned_threads(count):
            for case in cases:
                with load.track():
                    timings = _time_layers(case.batch, case.in_features, case.out_features, (case.mode,), names,
                                           rounds, min_time, seed)[case.mode]
                rows.append(_overhead_row(case, backend, timings[backend], timings[TORCH]))
    meta = {"what": "HALLinear (halkit eager adapter) vs nn.Linear, same weights, outputs checked equal first",
            "machine": machine.describe(),
            "threads": f"{list(threads)} (pinned for torch, NumPy's BLAS and the HAL)" if threads else
                       f"{hal.get_num_threads()} HAL, {torch.get_num_threads()} torch (as set by the caller)",
            "timing": f"median of {rounds} interleaved rounds, each sample >= {min_time} s after warm-up",
            "load": load.summary(),
            "columns": "time ratio = HALLinear / nn.Linear (below 1: HALLinear faster); ~ = within the noise "
                       "(interquartile ranges overlap); spread = slowest/fastest round; "
                       "forward runs under no_grad, forward+backward back-propagates into x, W and b"}
    return OverheadResults(rows, meta)


def _overhead_row(case: LayerCase, backend: str, ours, theirs) -> dict:
    ratio = ours.median / theirs.median
    return {
        "case": case.label, "mode": case.mode, "batch": case.batch, "in_features": case.in_features,
        "out_features": case.out_features, "backend": backend, "threads": hal.get_num_threads(),
        "halkit_s": ours.median, "halkit_spread": ours.spread, "torch_s": theirs.median,
        "torch_spread": theirs.spread, "rounds": len(ours.samples), "time_ratio": ratio,
        "significant": ours.differs_from(theirs), "target": case.target,
        "meets_target": None if case.target is None else ratio <= case.target, "noisy": ours.noisy or theirs.noisy,
    }


class LatencyResults(Rows):
    """Rows {variant, backend, forward_s, step_s, forward_vs_torch, step_vs_torch, ...} with a text table."""

    COLUMNS = ("variant", "backend", "forward_s", "forward_spread", "step_s", "step_spread",
               "forward_vs_torch", "forward_significant", "step_vs_torch", "step_significant")
    FLOATS = frozenset({"forward_s", "forward_spread", "step_s", "step_spread", "forward_vs_torch", "step_vs_torch"})
    BOOLS = frozenset({"forward_significant", "step_significant"})

    def table(self) -> str:
        lines = [f"{'variant':<22}{'forward':>12}{'spread':>8}{'train step':>13}{'spread':>8}"
                 f"{'fwd x torch':>13}{'step x torch':>14}"]
        for r in self:
            lines.append(f"{r['variant']:<22}{duration(r['forward_s']):>12}{r['forward_spread']:>8.2f}"
                         f"{duration(r['step_s']):>13}{r['step_spread']:>8.2f}"
                         f"{ratio_text(r['forward_vs_torch'], r['forward_significant']):>13}"
                         f"{ratio_text(r['step_vs_torch'], r['step_significant']):>14}")
        lines.append("x torch = nn.Linear's median / this median (speed-up, same run); ~ = within the noise")
        return "\n".join(lines)


def linear_latency(batch: int = 64, in_features: int = 512, out_features: int = 512, backends=None,
                   rounds: int = 9, min_time: float = 0.1, seed: int = 0) -> LatencyResults:
    """Forward and train-step latency of nn.Linear and of HALLinear on each HAL backend, interleaved."""
    names, _notes = resolve_backends(backends)
    timings = _time_layers(batch, in_features, out_features, ("forward", "train step"), names, rounds, min_time,
                           seed)
    fwd, stp = timings["forward"], timings["train step"]
    rows = []
    for n in names:
        fwd_ratio, fwd_sig = speedup(fwd.get(TORCH), fwd[n])
        step_ratio, step_sig = speedup(stp.get(TORCH), stp[n])
        rows.append({
            "variant": "nn.Linear (torch)" if n == TORCH else f"HALLinear on {n}", "backend": n,
            "forward_s": fwd[n].median, "forward_spread": fwd[n].spread,
            "step_s": stp[n].median, "step_spread": stp[n].spread,
            "forward_vs_torch": fwd_ratio if fwd_ratio is not None else float("nan"), "forward_significant": fwd_sig,
            "step_vs_torch": step_ratio if step_ratio is not None else float("nan"), "step_significant": step_sig,
        })
    return LatencyResults(rows)


def profile_forward(batch: int = 1, in_features: int = 64, out_features: int = 64, calls: int = 20000,
                    top: int = 18) -> str:
    """cProfile of ``calls`` HALLinear forwards under no_grad on the current backend: the top functions by own time."""
    from halkit import HALLinear

    layer, x = HALLinear(in_features, out_features), torch.randn(batch, in_features)
    profiler = cProfile.Profile()
    with torch.no_grad():
        layer(x)  # first call: one-off costs stay out of the profile
        profiler.enable()
        for _ in range(calls):
            layer(x)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _bound(target) -> str:
    return "-" if target is None else f"<={target:.2f}"


def _selected(name: str):
    return contextlib.nullcontext() if name == TORCH else hal.use(name)
