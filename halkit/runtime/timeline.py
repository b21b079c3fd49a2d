"""The modelled timeline of one call of a partitioned graph, from the cost model.

A list schedule over engines, like the mock device's: CPU nodes run on the
host; a HAL partition uploads its activations on the h2d engine (async, so an
upload overlaps earlier work as soon as its input is ready), computes on the
device, and downloads its outputs on d2h. Weights are resident (no upload),
which is the steady state after the first call. A device in host memory has
no copies and shares the host's cores, so its kernels run on the host lane.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch.fx import GraphModule, Node

from .capability import val
from .lowering import hal_op
from .placement import nbytes, node_time


@dataclass(frozen=True)
class Span:
    lane: str  # "host", "h2d", "device", "d2h"
    name: str
    start: float
    end: float


def kernel_op(node: Node) -> str | None:
    """The cost-model op of a lowered node (an elementwise chain is costed by its length)."""
    op = hal_op(node)
    return f"elementwise_chain:{len(node.args[0])}" if op == "elementwise_chain" else op


def partition_kernels(graph: GraphModule, device) -> list[tuple[str, float]]:
    """(node name, modelled seconds) of each call node of a lowered partition, in order."""
    return [(n.name, node_time(n, kernel_op(n), device.cost)) for n in graph.graph.nodes if n.op == "call_function"]


def partition_kernel_s(graph: GraphModule, device) -> float:
    return sum(seconds for _, seconds in partition_kernels(graph, device))


def schedule(split: GraphModule, partitions: dict[str, GraphModule], device, host_cost, resident: set[str]):
    """(spans, total seconds) of one steady-state call; resident holds the weights' placeholder names."""
    ready: dict[Node, float] = {}  # when a value is available in host memory
    free = {"host": 0.0, "h2d": 0.0, "device": 0.0, "d2h": 0.0}
    spans = []

    def run(lane, name, start, seconds):
        start = max(start, free[lane])
        free[lane] = start + seconds
        if seconds > 0:
            spans.append(Span(lane, name, start, start + seconds))
        return start + seconds

    for node in split.graph.nodes:
        inputs_ready = max((ready.get(a, 0.0) for a in node.all_input_nodes), default=0.0)
        if node.op == "call_module" and node.target in partitions:
            steps = partition_kernels(partitions[node.target], device)
            if device.host_memory:
                done = inputs_ready
                for name, seconds in steps:
                    done = run("host", f"{node.target}.{name}", done, seconds)
                ready[node] = done
                continue
            uploaded = 0.0
            for arg in node.all_input_nodes:
                size = nbytes(val(arg))
                if arg.name in resident or not size:
                    continue
                uploaded = max(uploaded, run("h2d", f"{arg.name} → {device.name}", ready.get(arg, 0.0),
                                             device.cost.transfer_time(size)))
            done = max(inputs_ready, uploaded)
            for name, seconds in steps:
                done = run("device", f"{node.target}.{name}", done, seconds)
            outputs = val(node) if isinstance(val(node), (tuple, list)) else [val(node)]
            finished = done
            for i, out in enumerate(outputs):  # one download per output, as placement's estimate counts them
                seconds = device.cost.transfer_time(nbytes(out))
                finished = max(finished, run("d2h", f"output {i} of {node.target} → host", done, seconds))
            ready[node] = finished
        elif node.op == "call_function":
            priced = node.target is not operator.getitem and isinstance(_first(val(node)), torch.Tensor)
            seconds = node_time(node, None, host_cost) if priced else 0.0
            ready[node] = run("host", node.name, inputs_ready, seconds)
        else:
            ready[node] = inputs_ready
    total = max((s.end for s in spans), default=0.0)
    return spans, total


def _first(value):
    return value[0] if isinstance(value, (tuple, list)) and value else value

