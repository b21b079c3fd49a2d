"""How much a torch ↔ HAL design costs per call: ``python -m halkit.torch.overhead``.

Two tables, every number the median over interleaved rounds (designs take
turns within each round, so machine noise hits them alike), threads pinned:

1. per-call time of each way to wire a HAL linear into torch, at a size where
   the GEMM is negligible, with the overhead over a bare ``hal.linear`` call;
2. HALLinear against nn.Linear, forward, per backend and shape.

The designs halkit does not ship are registered here, under their own
namespace, only when this module runs.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from torch import nn

import halkit.hal as hal

from . import gradients, kernels
from .autograd import LinearFunction
from .modules import HALLinear


def _median_per_call_us(candidates: dict, rounds: int, calls: int) -> dict[str, float]:
    """Median over ``rounds`` of the mean time per call (µs), the candidates interleaved in each round."""
    samples = {name: [] for name in candidates}
    for fn in candidates.values():  # warm up: first calls build caches
        for _ in range(10):
            fn()
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter_ns()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter_ns() - start) / calls / 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


@functools.cache  # operators are registered once per process
def _alternative_designs():
    """The designs halkit does not ship, each a linear (x, weight, bias) -> y with autograd."""
    namespace = "halkit_overhead"
    lib = torch.library.Library(namespace, "FRAGMENT")

    def fake(x, weight, bias):
        return x.new_empty((*x.shape[:-1], weight.shape[0]))

    def save_for_backward(ctx, inputs, output):
        gradients.linear_setup_context(ctx, (*inputs, None), output)

    def linear_backward(ctx, grad):
        return gradients.linear_backward(torch.ops.halkit, ctx, grad)[:3]

    # (a) the high-level API: custom_op + register_autograd.
    @torch.library.custom_op(f"{namespace}::linear_custom_op", mutates_args=())
    def linear_custom_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return kernels.linear(x, weight, bias, None)

    linear_custom_op.register_fake(fake)
    linear_custom_op.register_autograd(linear_backward, setup_context=save_for_backward)

    # (b) define/impl + register_fake, no autograd on the operator: an autograd.Function calls it.
    lib.define("linear_plain(Tensor x, Tensor weight, Tensor? bias) -> Tensor")
    torch.library.impl(f"{namespace}::linear_plain", "CPU", lib=lib)(lambda x, w, b: kernels.linear(x, w, b, None))
    torch.library.register_fake(f"{namespace}::linear_plain", fake, lib=lib)
    plain_op = getattr(torch.ops, namespace).linear_plain.default

    class OperatorInFunction(torch.autograd.Function):
        @staticmethod
        def forward(x, weight, bias):
            return plain_op(x, weight, bias)

        setup_context = staticmethod(save_for_backward)
        backward = staticmethod(linear_backward)

    # (c) define/impl + register_fake + a hand-written Autograd kernel: an old-style Function that
    # re-dispatches below autograd (what register_autograd generates, minus functorch's Function path).
    lib.define("linear_manual_autograd(Tensor x, Tensor weight, Tensor? bias) -> Tensor")
    torch.library.impl(f"{namespace}::linear_manual_autograd", "CPU", lib=lib)(
        lambda x, w, b: kernels.linear(x, w, b, None))
    torch.library.register_fake(f"{namespace}::linear_manual_autograd", fake, lib=lib)
    manual_op = getattr(torch.ops, namespace).linear_manual_autograd.default

    class BelowAutograd(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            with torch._C._AutoDispatchBelowAutograd():
                output = manual_op(x, weight, bias)
            save_for_backward(ctx, (x, weight, bias), output)
            return output

        backward = staticmethod(linear_backward)

    lib.impl("linear_manual_autograd", BelowAutograd.apply, "Autograd")

    return lib, {
        "define/impl + register_fake + hand-written Autograd kernel (old-style Function)": manual_op,
        "custom_op + register_autograd": linear_custom_op,
        "define/impl + register_fake, in an autograd.Function": OperatorInFunction.apply,
    }


def design_overheads(rounds: int = 30, calls: int = 200, features: int = 64) -> dict[str, dict[str, float]]:
    """µs per call of each design at 1×features→features: forward with grad, forward+backward, no-grad forward."""
    _, alternatives = _alternative_designs()
    shipped_op = torch.ops.halkit.linear.default
    designs = {
        **alternatives,
        "define/impl + register_fake + register_autograd (torch.ops.halkit.linear)":
            lambda x, w, b: shipped_op(x, w, b, None),
        "autograd.Function calling the HAL directly (halkit eager route)":
            lambda x, w, b: LinearFunction.apply(x, w, b, None),
        "HALLinear module call (routing + eager route)": None,  # filled in below: needs the module
        "nn.Linear module call (torch reference)": None,
    }
    hal_module, torch_module = HALLinear(features, features), nn.Linear(features, features)
    x = torch.randn(1, features, requires_grad=True)
    grad_out = torch.ones(1, features)
    w, b = hal_module.weight, hal_module.bias
    designs["HALLinear module call (routing + eager route)"] = lambda x, w, b: hal_module(x)
    designs["nn.Linear module call (torch reference)"] = lambda x, w, b: torch_module(x)

    arrays = [t.detach().numpy() for t in (x, w, b)]
    floor = {"bare hal.linear on NumPy arrays (the floor)": lambda: hal.linear(*arrays)}
    forward = _median_per_call_us({**floor, **{n: (lambda f=f: f(x, w, b)) for n, f in designs.items()}}, rounds, calls)
    both = _median_per_call_us({n: (lambda f=f: f(x, w, b).backward(grad_out)) for n, f in designs.items()}, rounds, calls)
    with torch.no_grad():
        designs_no_grad = {
            "torch.ops.halkit.linear under no_grad": lambda: shipped_op(x, w, b, None),
            "HALLinear module call under no_grad (kernel called directly)": lambda: hal_module(x),
            "nn.Linear module call under no_grad": lambda: torch_module(x),
        }
        no_grad = _median_per_call_us({**floor, **designs_no_grad}, rounds, calls)
    return {"forward (grad enabled)": forward, "forward + backward": both, "forward (no_grad)": no_grad}


def module_times(shapes=((1, 64, 64), (64, 512, 512)), rounds: int = 30, calls: int = 50) -> list[dict]:
    """HALLinear vs nn.Linear forward (µs), grad enabled and no_grad, per backend and (batch, in, out)."""
    rows = []
    for backend in hal.backends():
        with hal.use(backend):
            for batch, in_features, out_features in shapes:
                reference = nn.Linear(in_features, out_features)
                module = HALLinear(in_features, out_features)
                module.load_state_dict(reference.state_dict())
                x = torch.randn(batch, in_features)
                for grad_mode in ("grad enabled", "no_grad"):
                    with torch.set_grad_enabled(grad_mode == "grad enabled"):
                        times = _median_per_call_us({"hal": lambda: module(x), "torch": lambda: reference(x)}, rounds, calls)
                    rows.append(dict(backend=backend, shape=f"{batch}×{in_features}→{out_features}", mode=grad_mode,
                                     halkit_us=times["hal"], torch_us=times["torch"], ratio=times["hal"] / times["torch"]))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch and HAL threads (default 1)")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds; the median is reported")
    parser.add_argument("--calls", type=int, default=200, help="calls per design per round")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    hal.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {args.threads} (torch and HAL), median of {args.rounds} interleaved rounds")
    print(f"\nDesign overhead, linear 1×64→64 on the {hal.current_backend()} backend (µs per call)")
    for phase, times in design_overheads(rounds=args.rounds, calls=args.calls).items():
        floor = times.get("bare hal.linear on NumPy arrays (the floor)")
        print(f"  {phase}:")
        for name, us in times.items():
            extra = f"  (+{us - floor:.1f} over the bare HAL call)" if floor is not None and "floor" not in name else ""
            print(f"    {us:8.1f}  {name}{extra}")
    print("\nHALLinear vs nn.Linear, eager forward (µs per call)")
    print(f"  {'backend':8} {'shape':14} {'mode':13} {'HALLinear':>10} {'nn.Linear':>10} {'ratio':>6}")
    for row in module_times(rounds=args.rounds, calls=max(1, args.calls // 4)):
        print(f"  {row['backend']:8} {row['shape']:14} {row['mode']:13} {row['halkit_us']:10.1f} {row['torch_us']:10.1f} {row['ratio']:6.2f}")


if __name__ == "__main__":
    main()
