"""The scheduler: runs a partitioned graph — CPU nodes with torch, HAL partitions on their device.

The top-level split graph is executed in topological order on the host; each
HAL partition is a :class:`HalPartition` module that runs its lowered graph
with the device's HAL backend selected for the calling thread. On the mock
accelerator ("mock" backend) every HAL op copies its activations in and its
result out asynchronously on the device's stream, while weights stay resident
in device memory between calls (the backend's residency cache): the first call
uploads them, later calls reuse them unless the optimizer changed them.
"""
from __future__ import annotations

import copy

import torch
from torch.fx import GraphModule

from halkit import hal

from . import kernels


class HalPartition(torch.nn.Module):
    """One lowered HAL partition, run with its device's HAL backend."""

    def __init__(self, graph: GraphModule, backend: str):
        super().__init__()
        self.graph_module = graph
        self.backend = backend

    def forward(self, *args):
        with hal.use(self.backend):
            return self.graph_module(*args)


def bind_kernels(graph: GraphModule) -> GraphModule:
    """A copy of a lowered partition whose nodes call the kernels behind the torch.ops.halkit operators."""
    bound = GraphModule(graph, copy.deepcopy(graph.graph))
    for node in bound.graph.nodes:
        name = kernels.name_of(node.target) if node.op == "call_function" else None
        if name:
            node.target = kernels.implementation(name)
    bound.recompile()
    return bound


def install(split: GraphModule, partitions: dict[str, GraphModule], backend: str) -> GraphModule:
    """Swap each lowered partition submodule of split for a HalPartition running its bound kernels on backend."""
    for name, graph in partitions.items():
        setattr(split, name, HalPartition(bind_kernels(graph), backend))
    split.recompile()
    return split
