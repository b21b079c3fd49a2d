"""Measured placement for targets in host memory: the HAL kernel against torch, timed on this CPU.

A driver computing in host memory shares the CPU with torch, so there a
modelled price says little (``hal.host_spec()`` prices both alike) while a
measurement says exactly which is faster: torch's kernels (oneDNN, MKL) beat a
HAL kernel on some ops and lose on others, and the answer changes with the
machine and the thread count. Nothing crosses a link in host memory, so the
decision is per node and independent: each compute node is compiled alone, with
the views of graph inputs it reads (a weight's transpose) — lowered and run
exactly as inside a partition — and timed against its aten op on random inputs
of its traced shapes, best of a few runs; the HAL keeps the
node when it is at least as fast. Results are cached per (target, op, shapes,
arguments, threads) for the life of the process.
"""
from __future__ import annotations

import operator
import time
from typing import NamedTuple

import torch
from torch._dispatch.python import no_python_dispatcher
from torch._subclasses.fake_tensor import unset_fake_temporarily
from torch.fx import Graph, GraphModule, Node

from halkit import hal

from . import partition
from .lowering import lower
from .program import HostBoundary, Program
from .timeline import concrete

#: how long each side is timed for: the best of the runs inside this budget, at least RUNS of them (the best
#: of several is what survives a loaded machine's interruptions)
BUDGET_S = 0.01
RUNS = 5


class Timing(NamedTuple):
    hal_s: float
    torch_s: float

    @property
    def hal_wins(self) -> bool:
        return self.hal_s <= self.torch_s

    def describe(self, target: str) -> str:
        return f"measured {self.hal_s * 1e6:.0f} µs on {target} vs {self.torch_s * 1e6:.0f} µs in torch"


_cache: dict = {}


def _example(value):
    if isinstance(value, torch.Tensor):
        shape = concrete(value.shape)
        if value.dtype.is_floating_point:
            return torch.randn(shape, dtype=value.dtype)
        return torch.zeros(shape, dtype=value.dtype)  # indices: 0 is valid for every table
    if isinstance(value, torch.SymInt):
        return concrete([value])[0]
    return value


def _input_views(node: Node) -> list[Node]:
    """The views of graph inputs that node reads (``w.t()`` of a weight), in graph order: what a partition takes in
    with the node and computes on the input itself (for free). A measurement that made the view its input would
    hand the HAL a dense copy of the transpose, which it then transposes back with a copy."""
    order = {n: i for i, n in enumerate(node.graph.nodes)}
    return sorted(partition.with_input_views({node}) - {node}, key=order.__getitem__)


def _alone(node: Node) -> tuple[GraphModule, list]:
    """A graph holding only ``node`` and the views of graph inputs it reads (its other tensor inputs, and the
    inputs of those views, as placeholders), and example inputs for it."""
    views = _input_views(node)
    inputs = dict.fromkeys(a for n in (*views, node) for a in n.all_input_nodes if a not in views)
    graph, env, examples = Graph(), {}, []
    for i, arg in enumerate(inputs):
        placeholder = graph.placeholder(f"input_{i}")
        placeholder.meta.update(arg.meta)
        env[arg] = placeholder
        examples.append(_example(arg.meta.get("val")))
    for view in views:
        env[view] = graph.node_copy(view, env.__getitem__)
    copied = graph.node_copy(node, env.__getitem__)
    parts = [u for u in node.users if u.target is operator.getitem]  # a tuple's used outputs, as in the graph
    graph.output(tuple(graph.node_copy(u, lambda n: copied) for u in parts) if parts else copied)
    return GraphModule(torch.nn.Module(), graph), examples


def _best(fn) -> float:
    fn()  # warm up (first-touch of buffers, lazily built plans)
    best, spent, runs = float("inf"), 0.0, 0
    while runs < RUNS or spent < BUDGET_S:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best


def _key(node: Node, target) -> tuple:
    def describe(arg):
        if isinstance(arg, Node):
            value = arg.meta.get("val")
            return (tuple(concrete(value.shape)), str(value.dtype)) if isinstance(value, torch.Tensor) else repr(value)
        if isinstance(arg, (list, tuple)):
            return tuple(describe(a) for a in arg)
        return repr(arg)
    return (target.name, str(node.target), describe(node.args), describe(tuple(node.kwargs.items())),
            torch.get_num_threads(), hal.get_num_threads())


def timing(node: Node, target) -> Timing:
    """The HAL's time and torch's for ``node`` on ``target`` (a driver in host memory), measured once."""
    return _cached(_key(node, target), lambda: _measure(node, target))


def _cached(key: tuple, measure) -> Timing:
    """``measure()``'s Timing, once per key for the life of the process."""
    if key not in _cache:
        # compilers run under aot's fake mode, functorch's layers and the Python dispatcher: time real tensors through
        # torch's plain dispatch, as the compiled graph will run them
        with unset_fake_temporarily(), no_python_dispatcher(), torch._C._DisableFuncTorch(), torch.no_grad():
            _cache[key] = measure()
    return _cache[key]


def _measure(node: Node, target) -> Timing:
    gm, examples = _alone(node)
    torch_s = _best(lambda: gm(*examples))  # before lowering: the aten node (and its input views) in torch
    lower(gm, target)
    program = Program(gm)
    boundary = HostBoundary(program)
    with hal.use(target.name):
        hal_s = _best(lambda: program(boundary, examples))
    return Timing(hal_s, torch_s)


def measurable(node: Node) -> bool:
    """A compute node with tensors in host memory (what a host-memory target and torch both run)."""
    values = [a.meta.get("val") for a in node.all_input_nodes] + [node.meta.get("val")]
    tensors = [v for value in values for v in (value if isinstance(value, (tuple, list)) else (value,))
               if isinstance(v, torch.Tensor)]
    return node.target is not operator.getitem and all(t.device.type == "cpu" for t in tensors)


def training_max_pool(shape, dtype: torch.dtype, window: tuple, target) -> Timing:
    """Max pooling that trains, both ways, on this CPU: the HAL's forward and its backward that recomputes the
    argmax positions (``torch.ops.halkit.max_pool2d``, what rewrites.py makes of ``F.max_pool2d``), against
    aten's forward that records them and the backward that reads them. ``window``: (kernel_size, stride,
    padding, dilation, ceil_mode) as ``torch.ops.halkit.max_pool2d`` takes them. The choice is a graph rewrite,
    before aot_autograd splits forward from backward, so the pair is timed as one."""
    key = ("max_pool2d training", target.name, tuple(shape), str(dtype), repr(window), torch.get_num_threads(),
           hal.get_num_threads())
    return _cached(key, lambda: _measure_max_pool(shape, dtype, window, target))


def _measure_max_pool(shape, dtype, window, target) -> Timing:
    kernel, stride, padding, dilation, ceil_mode = window
    x = torch.randn(shape, dtype=dtype)
    y, positions = torch.ops.aten.max_pool2d_with_indices(x, kernel, stride, padding, dilation, ceil_mode)
    grad = torch.randn_like(y)

    def in_torch():
        torch.ops.aten.max_pool2d_with_indices(x, kernel, stride, padding, dilation, ceil_mode)
        torch.ops.aten.max_pool2d_with_indices_backward(grad, x, kernel, stride, padding, dilation, ceil_mode,
                                                        positions)

    def on_hal():
        torch.ops.halkit.max_pool2d(x, *window)
        torch.ops.halkit.max_pool2d_backward(grad, x, *window)

    torch_s = _best(in_torch)
    with hal.use(target.name):
        hal_s = _best(on_hal)
    return Timing(hal_s, torch_s)
