"""A lowered partition compiled to straight-line Python over HAL arrays, and the boundaries it runs between.

:class:`Program` turns a lowered partition (an fx graph of kernels and layout
ops) into one generated Python function: each kernel node calls its array
implementation (:data:`halkit.runtime.kernels.ARRAY`), each layout node a
view function (:mod:`halkit.runtime.views`), so a call costs one Python call
per kernel and nothing per value. What crosses the partition's edge goes
through a *boundary*:

* :class:`HostBoundary` — a driver computing in host memory: tensors are
  shared with NumPy both ways (no copy);
* :class:`DeviceBoundary` — a device: CPU tensors are uploaded, parameters
  and buffers stay resident (``halkit.torch.params``, uploaded again only when
  their version changes), tensors of the torch device ``halkit`` are used in
  place, and outputs are downloaded — or stay on the device when the graph
  wants a ``halkit`` tensor there. Intermediates never leave the device.

Kernels that depend on parameters and buffers only (a weight cast to the
input's dtype, say) form the program's *prologue*: computed once and kept
while those tensors keep their version, like ``params``' residency.
The same Program runs in a dry run (:mod:`halkit.runtime.dryrun`) to price
exactly the commands a call issues.
"""
from __future__ import annotations

import contextlib
import itertools
import linecache
import math
import operator

import numpy as np
import torch
from torch.fx import GraphModule, Node

from halkit import hal
from halkit.torch import params as resident
from halkit.torch.arrays import host_tensor, host_view

from . import kernels, views

aten = torch.ops.aten

#: layout ops and what they do to a HAL array (views.py); every other aten op in a lowered partition is a bug
LAYOUT = {
    aten.view.default: views.reshape, aten._unsafe_view.default: views.reshape, aten.reshape.default: views.reshape,
    aten.t.default: views.t, aten.transpose.int: views.transpose, aten.permute.default: views.permute,
    aten.unsqueeze.default: views.unsqueeze, aten.squeeze.dim: views.squeeze, aten.squeeze.dims: views.squeeze,
    aten.squeeze.default: views.squeeze, aten.select.int: views.select, aten.slice.Tensor: views.slice_,
    aten.expand.default: views.expand, aten.clone.default: views.identity, aten.detach.default: views.identity,
    aten.alias.default: views.identity,
}
#: computations on sizes that a dynamic-shape graph carries along
SIZE_OPS = {aten.sym_size.int: views.size}

_ids = itertools.count()


def _is_static_input(node: Node, static: set[str]) -> bool:
    return node.op == "placeholder" and node.name in static


class Program:
    """``program(boundary, args)`` runs the partition; ``static`` names the placeholders holding parameters or buffers."""

    def __init__(self, gm: GraphModule, static: set[str] = frozenset()):
        graph = gm.graph
        self.placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        self.static_inputs = [i for i, n in enumerate(self.placeholders) if n.name in static]
        self.output_node = next(n for n in graph.nodes if n.op == "output")
        self._globals: dict = {"np": np}
        prologue = self._prologue_nodes(graph, static)
        self.prologue = [n for n in graph.nodes if n in prologue]
        self.prologue_inputs = sorted({i for i, p in enumerate(self.placeholders)
                                       if any(p in n.all_input_nodes for n in self.prologue)})
        exported = [n for n in self.prologue if any(u not in prologue for u in n.users)]
        self.source = self._generate(graph, prologue, exported)
        self.aliased = aliased_outputs(self)
        name = f"<halkit partition {next(_ids)}>"
        linecache.cache[name] = (len(self.source), None, self.source.splitlines(True), name)  # readable tracebacks
        exec(compile(self.source, name, "exec"), self._globals)  # noqa: S102 - our own generated code
        self._run = self._globals["run"]
        self._cache: dict = {}  # boundary key -> (static key, prologue values)

    # --- running ----------------------------------------------------------------------------------------
    def __call__(self, boundary, args):
        return self._run(boundary, args, self)

    def static_values(self, boundary, values, raw):
        """The prologue's results for these parameter versions (computed again only when one changed)."""
        key = boundary.version_key([raw[i] for i in self.prologue_inputs])
        cached = self._cache.get(boundary.cache_key) if key is not None else None
        if cached is None or cached[0] != key:
            with boundary.prologue():
                cached = (key, self._globals["prologue"](*(values[i] for i in self.prologue_inputs)))
            if key is not None:
                self._cache[boundary.cache_key] = cached
        return cached[1]

    # --- code generation --------------------------------------------------------------------------------
    @staticmethod
    def _prologue_nodes(graph, static) -> set[Node]:
        """Call nodes computed from parameters/buffers only, when at least one of them is a kernel."""
        found: set[Node] = set()
        for node in graph.nodes:
            if node.op != "call_function":
                continue
            inputs = node.all_input_nodes
            if inputs and all(_is_static_input(a, static) or a in found for a in inputs):
                found.add(node)
        kernel_nodes = {n for n in found if kernels.name_of(n.target) is not None}
        needed: set[Node] = set()
        stack = list(kernel_nodes)
        while stack:  # a prologue holds the static kernels and the static steps they read
            node = stack.pop()
            if node in needed or node not in found:
                continue
            needed.add(node)
            stack.extend(node.all_input_nodes)
        return needed

    def _generate(self, graph, prologue: set[Node], exported: list[Node]) -> str:
        body, head = [], []
        lines = ["def run(B, args, P):"]
        for i, node in enumerate(self.placeholders):
            lines.append(f"    r{i} = args[{i}]")
            lines.append(f"    {self._var(node)} = B.input(r{i}, {i})")
        if prologue:
            head.append(f"def prologue({', '.join(self._var(self.placeholders[i]) for i in self.prologue_inputs)}):")
            for node in self.prologue:
                head.append(f"    {self._var(node)} = {self._call(node)}")
            head.append(f"    return ({''.join(self._var(n) + ', ' for n in exported)})")
            raw = "[" + ", ".join(f"r{i}" for i in range(len(self.placeholders))) + "]"
            values = "[" + ", ".join(self._var(p) for p in self.placeholders) + "]"
            lines.append(f"    ({''.join(self._var(n) + ', ' for n in exported)}) = P.static_values(B, {values}, {raw})")
        for node in graph.nodes:
            if node.op == "call_function" and node not in prologue:
                body.append(f"    {self._var(node)} = {self._call(node)}")
        outputs = self.output_node.args[0]
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        self.single_output = not isinstance(self.output_node.args[0], (tuple, list))
        returned = ", ".join(f"B.output({self._arg(o)}, {i})" for i, o in enumerate(outputs))
        lines += body + [f"    return ({returned}{',' if len(outputs) == 1 else ''})"]
        return "\n".join(head + lines) + "\n"

    def _var(self, node: Node) -> str:
        return f"v_{node.name}"

    def _const(self, value) -> str:
        name = f"c{len(self._globals)}"
        self._globals[name] = value
        return name

    def _arg(self, arg) -> str:
        if isinstance(arg, Node):
            return self._var(arg)
        if isinstance(arg, (list, tuple)):
            inner = ", ".join(self._arg(a) for a in arg)
            return f"[{inner}]" if isinstance(arg, list) else f"({inner}{',' if len(arg) == 1 else ''})"
        if arg is None or isinstance(arg, (bool, int, str)) or (isinstance(arg, float) and math.isfinite(arg)):
            return repr(arg)
        return self._const(arg)

    def _call(self, node: Node) -> str:
        args = ", ".join([self._arg(a) for a in node.args] + [f"{k}={self._arg(v)}" for k, v in node.kwargs.items()
                                                             if not _ignored_kwarg(node, k)])
        name = kernels.name_of(node.target)
        if name is not None:
            return f"{self._const(kernels.ARRAY[name])}({args})"
        if node.target is operator.getitem:
            return f"{self._arg(node.args[0])}[{self._arg(node.args[1])}]"
        fn = LAYOUT.get(node.target) or SIZE_OPS.get(node.target)
        if fn is None:
            if isinstance(node.target, torch._ops.OpOverload):
                raise AssertionError(f"{node.format_node()} is not a HAL kernel, a layout op or a size computation: "
                                     "the partitioner should have left it on the CPU")
            fn = node.target  # operator.mul on sizes, sym_float, ...
        return f"{self._const(fn)}({args})"


def _ignored_kwarg(node: Node, key: str) -> bool:
    """Keyword arguments of layout ops that do not change the elements (a memory format, expand's implicit flag)."""
    return node.target in LAYOUT and key in ("memory_format", "implicit")


# --- boundaries --------------------------------------------------------------------------------------------

def _version(t) -> tuple:
    return (id(t), t._version, t.data_ptr())


def aliased_outputs(program: Program) -> frozenset:
    """Outputs that would share memory with an input or an earlier output (a clone or a view of one: layout ops
    make no copies here); the boundary copies those, so every result is a tensor of its own, as in eager."""
    seen, aliased = set(), set()
    outputs = program.output_node.args[0]
    for i, out in enumerate(outputs if isinstance(outputs, (tuple, list)) else (outputs,)):
        root = out
        while isinstance(root, Node) and root.op == "call_function" and root.target in LAYOUT:
            root = root.args[0]
        if isinstance(root, Node) and (root.op == "placeholder" or root in seen):
            aliased.add(i)
        seen.add(root)
    return frozenset(aliased)


class _Boundary:
    def __init__(self, program: Program):
        self.aliased = program.aliased

    @staticmethod
    def version_key(tensors):
        return tuple(_version(t) for t in tensors)

    @staticmethod
    def prologue():
        return contextlib.nullcontext()


class HostBoundary(_Boundary):
    """A driver in host memory: NumPy views of the tensors in, tensors over the results out — no copies."""

    cache_key = "host"

    def input(self, t, i):
        if not isinstance(t, torch.Tensor):
            return t  # a size
        return host_view(t)

    def output(self, v, i):
        if v is None or not hasattr(v, "shape"):
            return v
        a = np.asarray(views.dense(v))
        return host_tensor(a.copy() if i in self.aliased else a)


class DeviceBoundary(_Boundary):
    """A device behind a link (or the torch device "halkit"): upload at the edge, parameters resident, results
    downloaded — or left on the device for a ``halkit`` tensor."""

    def __init__(self, program: Program, driver, static: frozenset, device_outputs: frozenset):
        super().__init__(program)
        self.driver, self.static, self.device_outputs = driver, static, device_outputs
        self.cache_key = driver

    def input(self, t, i):
        if not isinstance(t, torch.Tensor):
            return t
        if t.device.type != "cpu":  # a tensor of the torch device "halkit": its storage is a device array
            from halkit.torch.device import as_array

            return as_array(t)
        if i in self.static or type(t) is torch.nn.Parameter:
            return resident.host_or_device(t)  # uploaded once per version
        return hal.to_device(host_view(t), self.driver)

    def output(self, v, i):
        if v is None or not hasattr(v, "shape"):
            return v
        if i not in self.device_outputs:
            return host_tensor(views.dense(v).numpy())  # a new host array: never an alias
        from halkit.torch.device import as_tensor

        return as_tensor(views.copy(v) if i in self.aliased else views.dense(v))
