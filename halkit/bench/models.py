"""``run_models()``: real models through every route, the suite behind ``python -m halkit.bench models``.

For each thread count, model and mode (an inference forward, or one SGD
training step), every route (routes.py) gets its own copy of the same model;
its first call compiles where the route compiles and is checked against
eager — the output, and in training every parameter's gradient — and then
all routes are timed in interleaved rounds. Ratios are speed-ups from that
one run: vs eager and vs inductor (torch.compile's default backend), each
with its spread and a ``~`` where the difference is within the noise.

``autocast="bfloat16"`` runs every route under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (a training
step's forward and loss under it, the backward outside, as torch's AMP recipe); eager under autocast is
then the reference, checked with a bfloat16 tolerance (see BF16_TOLERANCE), and each route's note says
what it really computes in bfloat16.
"""
from __future__ import annotations

import time
from collections import Counter

import torch

from halkit import hal

from . import idle_threads, machine
from .load import LoadMonitor
from .results import Rows, duration, ratio_text, speedup, timing_fields
from .routes import ROUTES, compile_reports, first_call, prepare
from .runner import default_threads
from .steps import forward_step, training_step
from .threads import pinned_threads
from .timing import interleaved, loop_sampler
from .workloads import workloads

MODES = ("forward", "train")
#: A route matches eager when every element is within this fraction of the reference tensor's largest magnitude.
TOLERANCE = 1e-3
#: --autocast: the dtypes a route can be run under (torch.autocast on the CPU); halkit has no float16 GEMMs.
AUTOCAST = {"bfloat16": torch.bfloat16}
#: Under bfloat16 autocast a route matches eager-under-autocast when every element of the output and of each
#: gradient is within 2**-5 of that tensor's largest magnitude, or within BF16_NOISE x autocast's own error on
#: that tensor (below), whichever is larger.
#: Why 2**-5: bfloat16 keeps 8 significant bits, so one rounding moves a value by up to 2**-9 of itself and a
#: bfloat16 step at a tensor's largest values is 2**-8..2**-7 of its scale. Two correct routes differ by such
#: steps wherever they round differently (another accumulation order, a bias added before or after the
#: rounding, float32 compute + one cast where torch computes in bf16), and each layer adds its own (the
#: residual connections and normalisations in between keep them from compounding). 2**-5 = 8 unit roundoffs
#: (2**-8) leaves room for that: measured here (AVX512_BF16), a correct route's output stays within 2**-7 of
#: its scale (BERT: 2e-4; ResNet-18: 7e-3).
BF16_TOLERANCE = 2 ** -5
#: ... or within BF16_NOISE x max |eager in float32 - eager under autocast| of the same tensor (eager runs once
#: more in float32, untimed, per group): where bf16 itself moves a tensor by more than 2**-5 of its scale, no
#: route can be held closer than that. ResNet-18's training gradients are such (batch norm's backward
#: subtracts means of bf16 products: autocast moves them by 30-80 % of their scale), and so is a gradient
#: that is zero in exact arithmetic (BERT's attention key biases: softmax ignores a shift of all scores), pure
#: rounding noise as large as its own "scale". 3: a correct route and eager each sit about that error away from
#: the exact result (|route - eager| <= |route - exact| + |exact - eager| ~ 2x), with room for the max over
#: a tensor's elements to fluctuate. This replaces float32's absolute 1e-6, which would wave through whole
#: gradients of BERT's query/key weights (their scale is ~3e-6).
#: Measured (standard and tiny workloads): correct routes reach at most 0.8 of this threshold (convert on the
#: tiny test ResNet-18's training gradients, batch 2; 0.2 elsewhere). The last weight of convert's model scaled
#: by 1.25 fails it 3-8x (BERT training, ResNet-18 forward and training), its sign flipped 3-64x; a 1 % change
#: passes (tests/bench/test_models_autocast.py). BERT's forward output alone is insensitive (the embeddings'
#: residual dominates it: x1.25 on its last dense layer moves it by 1.3 % of its scale): its gradients catch it.
BF16_NOISE = 3
#: The matrix ops whose bfloat16 placement a "halkit" route's note counts.
MATRIX_OPS = ("aten.mm", "aten.addmm", "aten.bmm", "aten.baddbmm", "aten.convolution", "aten.convolution_backward")


class ModelResults(Rows):
    """Rows {model, mode, threads, route, autocast, median_s, ..., vs_eager, vs_inductor, max_abs_diff, matched,
    error}; autocast is the dtype every route ran under ("bfloat16"), None without autocast."""

    COLUMNS = ("model", "mode", "threads", "route", "autocast", "median_s", "min_s", "max_s", "q1_s", "q3_s", "rounds",
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
               progress: bool = True, seed: int = 0, autocast: str | None = None) -> ModelResults:
    """Time each model in ``models`` (default: resnet18, bert) through each route (default: all four; eager is
    always included, it is the reference) at each thread count (default 1 and every core; the cores only with
    quick), in each mode ("forward", "train"). rounds: interleaved rounds (default 9; 3 with quick); min_time:
    seconds per sample (default 0.2; 0.01 with quick). size: "standard" (the issue's workloads) or "tiny" (tests).
    autocast: "bfloat16" (or torch.bfloat16) runs every route under CPU autocast in that dtype, checked against
    eager under autocast with BF16_TOLERANCE; None (default): float32 throughout.
    """
    autocast_name = _autocast_name(autocast)
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
    rows, load, notes, errors = [], LoadMonitor(), [], {}
    for t, name, mode in groups:
        with pinned_threads(t):
            group_rows, group_notes, error = _measure_group(available[name], mode, routes, t, rounds, min_time,
                                                            seed, load, bar, autocast_name)
        rows += group_rows
        notes += [n for n in group_notes if n not in notes]  # the same note at another thread count: once
        if error is not None:
            errors[f"{name} {mode} x{t}"] = error
    bar.close()
    beyond = (f"{TOLERANCE:g} of its scale" if autocast_name is None else
              f"{BF16_TOLERANCE:g} of its scale and {BF16_NOISE}x autocast's own error")
    reference = "eager" if autocast_name is None else f"eager under autocast {autocast_name}"
    notes += [f"{r['model']} {r['mode']} x{r['threads']} {r['route']}: output differs from {reference} beyond "
              f"{beyond}: its time is not a valid comparison" for r in rows
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
    if autocast_name:
        meta["autocast"] = (f'{autocast_name}: every route runs under torch.autocast("cpu", '
                            f"dtype=torch.{autocast_name}) (a train step's forward and loss under it, backward and "
                            "SGD outside, no GradScaler); "
                            "eager under autocast is the reference: torch computes the ops on autocast's "
                            f"lower-precision list (linear, matmul, conv) in {autocast_name}, the rest in float32")
        meta["check"] = (f"every element of the output and of each gradient within {BF16_TOLERANCE:g} (2**-5) of "
                         f"that tensor's largest magnitude in eager under autocast, or within {BF16_NOISE}x the "
                         "same tensor's float32-vs-autocast difference in eager (autocast's own error: "
                         "max |float32 - autocast| / the tensor's scale: "
                         + "; ".join(f"{k}: {text}" for k, text in errors.items()) + ")")
    return ModelResults(rows, meta)


def _autocast_name(autocast) -> str | None:
    """"bfloat16" for "bfloat16" or torch.bfloat16, None for None; anything else is a ValueError."""
    if autocast is None:
        return None
    for name, dtype in AUTOCAST.items():
        if autocast in (name, dtype):
            return name
    raise ValueError(f"autocast must be one of {list(AUTOCAST)} (or None), got {autocast!r}")


def _measure_group(workload, mode, routes, threads, rounds, min_time, seed, load, bar,
                   autocast=None) -> tuple[list[dict], list[str], str | None]:
    """One (model, mode, threads): prepare and check every route, then time them interleaved; (rows, notes,
    autocast's own error on this model in words, None without autocast)."""
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
    steps, checks, notes, error = _first_calls(model, inputs, target, routes, threads, label, bar, autocast)
    timings = {}
    if steps:
        bar.set_postfix_str(f"{label}: timing {len(steps)} routes interleaved")
        with load.track():
            timings = interleaved({r: loop_sampler(s) for r, s in steps.items()}, rounds, min_time)
    rows = []
    for route in routes:
        row = {"model": workload.name, "mode": mode, "threads": threads, "route": route, "autocast": autocast,
               "error": None, **checks[route]}
        if route in timings:
            t = timings[route]
            vs_eager, eager_sig = speedup(timings.get("eager"), t)
            vs_inductor, inductor_sig = speedup(timings.get("inductor"), t)
            row.update(timing_fields(t), vs_eager=vs_eager, vs_eager_significant=eager_sig,
                       vs_inductor=vs_inductor, vs_inductor_significant=inductor_sig)
        rows.append(row)
    return rows, notes, error


def _first_calls(model, inputs, target, routes, threads, label, bar, autocast=None) -> tuple:
    """Each route's step and its first call (where compiled routes compile), checked against eager's:
    ({route: step}, {route: check fields or {"error": ...}}, notes, autocast's own error in words or None). Eager runs
    first; if it fails, the model does. Under autocast, eager also runs once in float32 (untimed): autocast's own
    error, the check's noise floor (see BF16_NOISE)."""
    steps, checks, notes, reference, floors, error = {}, {}, [], None, None, None
    dtype = AUTOCAST[autocast] if autocast else None
    for route in routes:
        bar.set_postfix_str(f"{label}: {route} (first call compiles)")
        try:
            runnable, trained = prepare(route, model)
            step = _step(runnable, inputs, target, dtype)
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
            if reference is None:  # eager's: it runs first
                reference = result
                if autocast:
                    floors, error = _autocast_floors(model, inputs, target, reference)
            checks[route] = {"first_call_s": first, **_compare(result, reference, floors)}
            if autocast:
                notes += _autocast_notes(route, runnable, label, autocast)
            steps[route] = step
        bar.update(1)
    return steps, checks, notes, error


def _step(runnable, inputs, target, autocast):
    if target is None:
        return forward_step(runnable, *inputs, autocast=autocast)
    return training_step(runnable, inputs, target, autocast=autocast)


def _autocast_floors(model, inputs, target, reference) -> tuple[tuple, str]:
    """Eager once in float32 on its own copy: (the check's floors = BF16_NOISE x max |float32 - autocast| per
    tensor, autocast's own error in words: that max / the tensor's scale for the output and the gradients)."""
    runnable, trained = prepare("eager", model)
    output = _step(runnable, inputs, target, None)().detach()
    grads = _gradients(trained) if target is not None else {}
    ref_output, ref_grads = reference
    shift = (output.float() - ref_output.float()).abs().max().item()
    shifts = {n: (grads[n] - g).abs().max().item() for n, g in ref_grads.items() if n in grads}
    floors = (BF16_NOISE * shift, {n: BF16_NOISE * d for n, d in shifts.items()})
    text = f"output {_sci(shift / _scale(ref_output) if _scale(ref_output) else 0.0)}"
    relative = sorted((d / _scale(ref_grads[n]), n) for n, d in shifts.items() if _scale(ref_grads[n]))
    if relative:
        text += (f", gradients median {_sci(relative[len(relative) // 2][0])}, worst {_sci(relative[-1][0])} "
                 f"({relative[-1][1]})")
    return floors, text


def _autocast_notes(route, runnable, label, autocast) -> list[str]:
    """What ``route`` really computes in ``autocast`` for this model: from its modules (convert) or from the
    compiler's placement report (halkit); [] for eager and inductor (torch's own autocast)."""
    from halkit.torch import bf16
    from halkit.torch.modules import HALConv2d, HALLayerNorm, HALLinear

    model_name = label.split()[0]
    gemms = bf16.runs_here()
    if route == "convert":
        counts = Counter(type(m) for m in runnable.modules())
        parts = []
        if counts[HALLinear]:
            parts.append(f"its {counts[HALLinear]} linear layer(s) compute in {autocast} through the HAL's bf16 GEMM"
                         if gemms else f"its {counts[HALLinear]} linear layer(s) compute in float32 and cast the "
                         f"result to {autocast} (driver {hal.current_backend()} declares no bf16 GEMMs)")
        if counts[HALConv2d]:
            parts.append(f"its {counts[HALConv2d]} conv2d layer(s) compute in float32 and cast the result to "
                         f"{autocast} (halkit has no {autocast} convolution)")
        if counts[HALLayerNorm]:
            parts.append(f"its {counts[HALLayerNorm]} layer norm(s) run in float32, as torch's do under autocast")
        parts.append("what convert() leaves alone (e.g. attention, batch norm, activations) runs in torch's autocast")
        return [f"convert {model_name} under autocast {autocast}: " + "; ".join(parts)]
    if route != "halkit":
        return []
    placements = [p for report in compile_reports(runnable) for g in report.graphs for p in g.placements]
    if not placements:
        return []
    on_hal = [p for p in placements if p.where != "cpu"]
    matrix = [p for p in placements if p.op in MATRIX_OPS]
    refused = [p for p in matrix if p.where == "cpu" and autocast in p.reason]
    mode = label.split()[1]
    text = (f"halkit {model_name} {mode} under autocast {autocast}: {len(on_hal)} of {len(placements)} call nodes "
            f"placed on the HAL, {len([p for p in matrix if p.where != 'cpu'])} of its {len(matrix)} matrix ops")
    if refused:
        ops = ", ".join(f"{op} x{n}" for op, n in Counter(p.op for p in refused).items())
        reasons = "; ".join(sorted({p.reason for p in refused}))
        text += (f"; {len(refused)} {autocast} matrix ops ({ops}) run on torch's CPU kernels, the compiler's "
                 f"placement: \"{reasons}\"")
    return [text]


def _gradients(module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}


def _compare(result, reference, floors=None) -> dict:
    """max |difference| of the output and of every gradient against eager's, and whether all are within tolerance:
    TOLERANCE of the reference's scale + 1e-6 (floors None: float32), else BF16_TOLERANCE of it or the floor
    given for that tensor (floors = (output's, {gradient name: its})), whichever is larger."""
    (output, grads), (ref_output, ref_grads) = result, reference
    out_floor, grad_floors = floors if floors is not None else (None, None)
    matched = output.shape == ref_output.shape and _close(output, ref_output, out_floor)
    out_diff = (output.float() - ref_output.float()).abs().max().item() if output.shape == ref_output.shape \
        else float("inf")
    grad_diff = None
    if ref_grads:
        matched = matched and grads.keys() == ref_grads.keys()
        diffs = [(grads[n] - g).abs().max().item() if n in grads else float("inf") for n, g in ref_grads.items()]
        grad_diff = max(diffs)
        matched = matched and all(_close(grads[n], g, None if grad_floors is None else grad_floors.get(n, 0.0))
                                  for n, g in ref_grads.items() if n in grads)
    return {"max_abs_diff": out_diff, "grad_max_abs_diff": grad_diff, "matched": bool(matched)}


def _scale(t: torch.Tensor) -> float:
    return t.abs().max().item() if t.numel() else 0.0


def _close(value, reference, floor=None) -> bool:
    """floor None: within TOLERANCE of the reference's scale + 1e-6 (float32); else within BF16_TOLERANCE of it,
    or within ``floor`` (autocast's own error on this tensor, see BF16_NOISE), whichever is larger."""
    if floor is None:
        return bool(((value - reference).abs() <= TOLERANCE * _scale(reference) + 1e-6).all())
    value, reference = value.float(), reference.float()
    return bool(((value - reference).abs() <= max(BF16_TOLERANCE * _scale(reference), floor)).all())


def _header(meta: dict):
    for key in ("machine", "torch", "autocast", "threads", "idle_threads", "timing", "modes", "check"):
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
