"""The torch.compile backend "halkit" and the explicit ``compile(model, example_inputs)``.

Dynamo captures the model; a few calls are rewritten into forms the HAL can
take (rewrites.py); aot_autograd turns each captured graph into aten forward
and backward graphs (training works, and the backward is partitioned and
fused too); :func:`~halkit.runtime.compiler.compile_graph` compiles each.

The target is the device given, else the one the model's tensors live on (a
model moved to the torch device ``halkit`` runs its partitions on that
device's driver), else the calling thread's HAL driver (``hal.use``).
"""
from __future__ import annotations

from importlib.metadata import entry_points

import torch
from functorch.compile import make_boxed_func
from torch._dynamo.backends.common import aot_autograd

from .compiler import compile_graph
from .placement import PlacementPolicy
from .report import CompileReport
from .rewrites import rewrite
from .targets import Target, get_target

NAME = "halkit"

_last_report = CompileReport()


def _static_placeholders(gm) -> set[str]:
    """Names of the placeholders that hold parameters/buffers (aot_autograd's static inputs)."""
    context = torch._guards.TracingContext.try_get()
    static = set(getattr(getattr(context, "fw_metadata", None), "static_input_indices", None) or ())
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    return {placeholders[i].name for i in static if i < len(placeholders)}


def _target_of(example_inputs, device):
    """The device given, else the driver of the torch device "halkit" when the graph's tensors live there."""
    if device is not None:
        return get_target(device)
    if any(isinstance(x, torch.Tensor) and x.device.type == "halkit" for x in example_inputs):
        from halkit.torch.device import driver as torch_device

        return get_target(torch_device.current())
    return get_target(None)


def make_backend(device: Target | str | None = None, policy: PlacementPolicy | None = None,
                 report: CompileReport | None = None):
    """A torch.compile backend placing graphs on ``device`` (a target name, a HAL driver, a Target; default: see the
    module doc), appending one GraphReport per compiled graph to report."""
    report = report if report is not None else CompileReport()
    policy = policy or PlacementPolicy()
    state = {"static": set(), "target": None}  # the forward's parameters are the backward's too (same names)

    def compiler(kind):
        def compile_fn(gm, example_inputs):
            if kind != "backward":
                state["static"] |= _static_placeholders(gm)
                state["target"] = _target_of(example_inputs, device)
            target = state["target"] or _target_of(example_inputs, device)
            runnable, graph_report = compile_graph(gm, target, policy, kind, state["static"])
            report.graphs.append(graph_report)
            return make_boxed_func(runnable)
        return compile_fn

    aot = aot_autograd(fw_compiler=compiler("forward"), bw_compiler=compiler("backward"),
                       inference_compiler=compiler("inference"))

    def backend(gm, example_inputs):
        target = _target_of(example_inputs, device)
        rewrite(gm, measured_on=target if policy.measures(target) else None)  # see rewrites.py
        return aot(gm, example_inputs)

    backend.report = report
    return backend


def halkit_backend(gm, example_inputs):
    """``torch.compile(model, backend="halkit")``: placed from the devices' capabilities, default policy.
    Its report is :func:`last_report`."""
    global _last_report
    _last_report = CompileReport()
    return make_backend(report=_last_report)(gm, example_inputs)


def last_report() -> CompileReport:
    """The report of the latest graph compiled through ``backend="halkit"`` (its forward and backward)."""
    return _last_report


def compile(model, example_inputs, device: Target | str | None = None, policy: PlacementPolicy | None = None,
            dynamic: bool | None = None, fullgraph: bool = False):
    """(compiled model, CompileReport): torch.compile with the halkit backend, captured by one call.

    The capture runs ``model(*example_inputs)`` once, as torch.jit.trace would, so the report holds
    the forward graph when this returns; aot_autograd compiles the backward graph at the first
    backward call, and later recompiles (e.g. a new batch size) append to the same report.
    """
    backend = make_backend(device, policy)
    compiled = torch.compile(model, backend=backend, dynamic=dynamic, fullgraph=fullgraph)
    compiled(*example_inputs)
    if not backend.report.graphs:
        raise RuntimeError(
            "torch.compile ran the model without compiling it — most likely Dynamo's recompile limit "
            f"(torch._dynamo.config.recompile_limit = {torch._dynamo.config.recompile_limit}) for this "
            "module's forward was reached by earlier compiles; call torch._dynamo.reset() first"
        )
    return compiled, backend.report


def register() -> None:
    """Make backend="halkit" resolve: through the torch_dynamo_backends entry point when the package
    declares one (dynamo loads it lazily), else by registering now. Idempotent."""
    from torch._dynamo.backends import registry

    declared = any(ep.name == NAME for ep in entry_points(group="torch_dynamo_backends"))
    if not declared and NAME not in registry._COMPILER_FNS:
        registry.register_backend(halkit_backend, name=NAME)
