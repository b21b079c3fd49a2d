"""``run_models()``: real models through every route, the suite behind ``python -m halkit.bench models``.

For each thread count, model and mode (an inference forward, or one SGD
training step), every route (routes.py) gets its own copy of the same model;
its first call compiles where the route compiles and is checked against
eager — the output, and in training every parameter's gradient — and then
all routes are timed in interleaved rounds. Ratios are speed-ups from that
one run: vs eager and vs inductor (torch.compile's default backend), each
with its spread and a ``~`` where the difference is within the noise.
"""
from __future__ import annotations

import time

import torch

from halkit import hal

from . import idle_threads, machine
from .load import LoadMonitor
from .results import Rows, duration, ratio_text, speedup, timing_fields
from .routes import ROUTES, first_call, prepare
from .runner import default_threads
from .steps import forward_step, training_step
from .threads import pinned_threads
from .timing import interleaved, loop_sampler
from .workloads import workloads

MODES = ("forward", "train")
#: A route matches eager when every element is within this fraction of the reference tensor's largest magnitude.
TOLERANCE = 1e-3


class ModelResults(Rows):
    """Rows {model, mode, threads, route, median_s, ..., vs_eager, vs_inductor, max_abs_diff, matched, error}."""

    COLUMNS = ("model", "mode", "threads", "route", "median_s", "min_s", "max_s", "q1_s", "q3_s", "rounds",
               "calls_per_sample", "noisy", "vs_eager", "vs_eager_significant", "vs_inductor",
               "vs_inductor_significant", "first_call_s", "max_abs_diff", "grad_max_abs_diff", "matched", "error")
    INTS = frozenset({"threads", "rounds", "calls_per_sample"})
    FLOATS = frozenset({"median_s", "min_s", "max_s", "q1_s", "q3_s", "vs_eager", "vs_inductor", "first_call_s",
                        "max_abs_diff", "grad_max_abs_diff"})
    BOOLS = frozenset({"noisy", "vs_eager_significant", "vs_inductor_significant", "matched"})

    def table(self) -> str:
        lines = [f"# {key}: {value}" for key, value in _header(self.meta)]
        head = (f"{'model':<10}{'mode':<9}{'thr':>3}  {'route':<9}{'time':>11}{'spread':>8}{'x eager':>9}"
                f"{'x inductor':>11}{'1st call':>12}{'max|d| out':>12}{'max|d| grad':>12}  check")
        lines += [head, "-" * len(head)]
        previous = None
        for r in self:
            key = (r["model"], r["mode"], r["threads"])
            if previous is not None and key != previous:
                lines.append("")
            previous = key
            if r.get("error"):
                lines.append(f"{r['model']:<10}{r['mode']:<9}{r['threads']:>3}  {r['route']:<9}  FAILED: {r['error']}")
                continue
            lines.append(
                f"{r['model']:<10}{r['mode']:<9}{r['threads']:>3}  {r['route']:<9}{duration(r['median_s']):>11}"
                f"{r['max_s'] / r['min_s']:>8.2f}{ratio_text(r['vs_eager'], r['vs_eager_significant']):>9}"
                f"{ratio_text(r['vs_inductor'], r['vs_inductor_significant']):>11}"
                f"{_seconds(r['first_call_s']):>12}{_sci(r['max_abs_diff']):>12}{_sci(r['grad_max_abs_diff']):>12}"
                f"  {'ok' if r['matched'] else 'MISMATCH'}" + ("  noisy" if r["noisy"] else ""))
        return "\n".join(lines)


def run_models(models=None, routes=None, threads=None, modes=MODES, rounds: int | None = None,
               min_time: float | None = None, quick: bool = False, size: str = "standard",
               progress: bool = True, seed: int = 0) -> ModelResults:
    """Time each model in ``models`` (default: resnet18, bert) through each route (default: all four; eager is
    always included, it is the reference) at each thread count (default 1 and every core; the cores only with
    quick), in each mode ("forward", "train"). rounds: interleaved rounds (default 9; 3 with quick); min_time:
    seconds per sample (default 0.2; 0.01 with quick). size: "standard" (the issue's workloads) or "tiny" (tests).
    """
    available = workloads(size)
    models = list(models or available)
    unknown = [m for m in models if m not in available]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}: choose from {list(available)}")
    routes = ["eager"] + [r for r in (routes or ROUTES) if r != "eager"]
    for route in routes:
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}: choose from {list(ROUTES)}")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    threads = list(threads) if threads is not None else default_threads(quick)
    rounds = rounds if rounds is not None else (3 if quick else 9)
    min_time = min_time if min_time is not None else (0.01 if quick else 0.2)

    groups = [(t, m, mode) for t in threads for m in models for mode in modes]
    bar = _progress(len(groups) * len(routes), progress)
    rows, load, notes = [], LoadMonitor(), []
    for t, name, mode in groups:
        with pinned_threads(t):
            rows += _measure_group(available[name], mode, routes, t, rounds, min_time, seed, load, bar)
    bar.close()
    notes += [f"{r['model']} {r['mode']} x{r['threads']} {r['route']}: output differs from eager beyond "
              f"{TOLERANCE:g} of its scale: its time is not a valid comparison" for r in rows
              if not r.get("error") and not r["matched"]]
    notes += [f"{r['model']} {r['mode']} x{r['threads']} {r['route']} failed: {r['error']}" for r in rows
              if r.get("error")]
    if quick:
        notes.append("--quick: fewer rounds and shorter samples than a measurement: a smoke test")
    if idle_threads.missing() and max(threads) > 1:
        notes.append("idle OpenMP/BLAS threads spin into the next route's time slot; " + idle_threads.advice())
    meta = {
        "machine": machine.describe(),
        "torch": f"torch {torch.__version__}, HAL backend {hal.current_backend()}",
        "threads": f"{threads} (pinned for torch, NumPy's BLAS and the HAL; inductor compiled per thread count)",
        "idle_threads": idle_threads.describe(),
        "timing": f"median of {rounds} interleaved rounds of all routes, each sample >= {min_time} s after "
                  "warm-up, device synchronized before the clock stops",
        "workloads": {n: available[n].description for n in models},
        "routes": {r: ROUTES[r] for r in routes},
        "modes": "forward = one inference forward under no_grad (model.eval()); train = one step: forward, MSE "
                 "loss, backward, torch.optim.SGD (model.train())",
        "load": load.summary(),
        "notes": notes,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return ModelResults(rows, meta)


def _measure_group(workload, mode, routes, threads, rounds, min_time, seed, load, bar) -> list[dict]:
    """One (model, mode, threads): prepare and check every route, then time them interleaved."""
    torch.manual_seed(seed)
    model = workload.build().train(mode == "train")
    generator = torch.Generator().manual_seed(seed)
    inputs = workload.inputs(generator)
    target = None
    if mode == "train":  # a fixed random target of the output's shape for the MSE loss
        with torch.no_grad():
            shape = model(*inputs).shape
        target = torch.randn(shape, generator=generator)
    torch._dynamo.reset()  # a fresh compile cache per group: no stale code, no recompile limit reached
    label = f"{workload.name} {mode} x{threads}"
    steps, checks = _first_calls(model, inputs, target, routes, threads, label, bar)
    timings = {}
    if steps:
        bar.set_postfix_str(f"{label}: timing {len(steps)} routes interleaved")
        with load.track():
            timings = interleaved({r: loop_sampler(s) for r, s in steps.items()}, rounds, min_time)
    rows = []
    for route in routes:
        row = {"model": workload.name, "mode": mode, "threads": threads, "route": route, "error": None,
               **checks[route]}
        if route in timings:
            t = timings[route]
            vs_eager, eager_sig = speedup(timings.get("eager"), t)
            vs_inductor, inductor_sig = speedup(timings.get("inductor"), t)
            row.update(timing_fields(t), vs_eager=vs_eager, vs_eager_significant=eager_sig,
                       vs_inductor=vs_inductor, vs_inductor_significant=inductor_sig)
        rows.append(row)
    return rows


def _first_calls(model, inputs, target, routes, threads, label, bar) -> tuple[dict, dict]:
    """Each route's step and its first call (where compiled routes compile), checked against eager's:
    ({route: step}, {route: check fields or {"error": ...}}). Eager runs first; if it fails, the model does."""
    steps, checks, reference = {}, {}, None
    for route in routes:
        bar.set_postfix_str(f"{label}: {route} (first call compiles)")
        try:
            runnable, trained = prepare(route, model)
            step = forward_step(runnable, *inputs) if target is None else training_step(runnable, inputs, target)
            with first_call(route, threads):
                start = time.perf_counter()
                output = step()
                hal.synchronize()
                first = time.perf_counter() - start
        except Exception as exc:  # a route that cannot run this model is a result too: report it, go on
            if route == "eager":
                raise
            checks[route] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
        else:
            result = (output.detach().clone(), _gradients(trained) if target is not None else {})
            reference = reference or result  # eager's: it runs first
            checks[route] = {"first_call_s": first, **_compare(result, reference)}
            steps[route] = step
        bar.update(1)
    return steps, checks


def _gradients(module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}


def _compare(result, reference) -> dict:
    """max |difference| of the output and of every gradient against eager's, and whether all are within tolerance."""
    (output, grads), (ref_output, ref_grads) = result, reference
    matched = output.shape == ref_output.shape and _close(output, ref_output)
    out_diff = (output - ref_output).abs().max().item() if output.shape == ref_output.shape else float("inf")
    grad_diff = None
    if ref_grads:
        matched = matched and grads.keys() == ref_grads.keys()
        diffs = [(grads[n] - g).abs().max().item() if n in grads else float("inf") for n, g in ref_grads.items()]
        grad_diff = max(diffs)
        matched = matched and all(_close(grads[n], g) for n, g in ref_grads.items() if n in grads)
    return {"max_abs_diff": out_diff, "grad_max_abs_diff": grad_diff, "matched": bool(matched)}


def _close(value, reference) -> bool:
    scale = reference.abs().max().item() if reference.numel() else 0.0
    return bool(((value - reference).abs() <= TOLERANCE * scale + 1e-6).all())


def _header(meta: dict):
    for key in ("machine", "torch", "threads", "idle_threads", "timing", "modes"):
        if key in meta:
            yield key, meta[key]
    for name, text in meta.get("workloads", {}).items():
        yield f"model {name}", text
    for name, text in meta.get("routes", {}).items():
        yield f"route {name}", text
    if "load" in meta:
        yield "machine load", meta["load"]["text"]
    for note in meta.get("notes", []):
        yield "note", note
    yield "columns", ("x eager / x inductor = that route's speed-up (median/median, same run; > 1 = faster); "
                      "~ = within the noise (interquartile ranges overlap); spread = slowest/fastest round; "
                      "1st call = wall time of the first call (compilation for compiled routes); max|d| = largest "
                      "absolute difference from eager's output / gradients")


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.1f} s" if value >= 1 else duration(value)


def _sci(value) -> str:
    return "-" if value is None else f"{value:.1e}"


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="halkit.bench models", unit="route", disable=not enabled, leave=False)
