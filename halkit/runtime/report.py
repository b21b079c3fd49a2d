"""The compile report: where every node runs and why, the partitions and what they move, the modelled time.

Every number comes from the compiler (a dry run of each partition priced by
its target's DeviceSpec and by the host's) and every sentence that explains a
decision is written here, so a notebook or a log shows the same explanation.
In Jupyter a report renders as a per-partition summary with the node-by-node
table one click away.
"""
from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field

from .placement import NodePlacement
from .timeline import Span


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def _bytes(n: int) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class PartitionReport:
    name: str  # "hal_0" when placed, "candidate 0" for one left on the CPU
    target: str
    placed: bool
    host_memory: bool  # the target computes in host memory (no transfers)
    kernels: tuple[str, ...]  # the kernels after fusion, e.g. ("linear[relu]", "softmax")
    aten_nodes: int  # aten call nodes it replaced (layout glue included)
    compute_ops: int  # of which compute (not layout) ops
    launches: int  # HAL launches of one call
    kernel_s: float  # modelled kernel time on the target
    transfer_s: float  # modelled copies across the target's link
    bytes_in: int  # uploaded on every call
    bytes_out: int  # downloaded on every call
    resident_bytes: int  # parameters and buffers read where they live (uploaded once per version)
    cpu_s: float  # the same work modelled on the host CPU
    prologue_s: float = 0.0  # kernels on parameters only, once per parameter version
    reason: str | None = None  # why it stays on the CPU (None when placed)
    measured: bool = False  # its nodes were placed by timing them against torch (a target in host memory)

    @property
    def modelled_s(self) -> float:
        return self.kernel_s + self.transfer_s

    @property
    def bytes_moved(self) -> int:
        return self.bytes_in + self.bytes_out

    def explain(self) -> str:
        """Why this partition runs where it does, in one paragraph."""
        work = (f"{len(self.kernels)} kernel(s) ({self.launches} HAL launches) for {self.aten_nodes} aten nodes")
        if self.host_memory:
            moves = "no transfers (it computes in host memory)"
        else:
            moves = (f"transfers {_us(self.transfer_s)}: {_bytes(self.bytes_in)} up and {_bytes(self.bytes_out)} "
                     f"down per call")
        resident = (f"; {_bytes(self.resident_bytes)} of parameters and buffers stay resident on the device "
                    f"(uploaded once, again only after an update)" if self.resident_bytes and not self.host_memory
                    else "")
        cost = (f"modelled {_us(self.modelled_s)} on {self.target} = kernels {_us(self.kernel_s)} + {moves}"
                f"{resident}; the CPU would take {_us(self.cpu_s)}")
        prologue = f"; kernels on parameters alone take {_us(self.prologue_s)} once per parameter version" \
            if self.prologue_s else ""
        if not self.placed:
            return f"{self.name} ({work}) stays on the CPU: {self.reason}. {cost[0].upper()}{cost[1:]}{prologue}."
        if self.measured:
            verdict = (f"each of its nodes measured faster on {self.target} than in torch on this CPU (the times are in "
                       f"the node table; the modelled figures price both sides alike)")
        elif not self.host_memory and self.bytes_moved == 0:
            verdict = (f"its data already lives on {self.target} (nothing crosses the link), so the device runs it; "
                       f"the CPU figure would also need the link")
        elif self.host_memory and abs(self.modelled_s - self.cpu_s) <= 1e-3 * max(self.cpu_s, 1e-12):
            verdict = "same cost model as the CPU, so the tie goes to the HAL"
        elif self.modelled_s <= 0:
            verdict = "it costs nothing there"
        else:
            verdict = f"{self.cpu_s / self.modelled_s:.2g}× faster than the CPU in the model"
        return f"{self.name} → {self.target}: {work}; {cost} — {verdict}{prologue}."


@dataclass
class GraphReport:
    kind: str  # "forward", "backward" or "inference"
    device: str  # the target's name
    target: str  # the target described (its memory, link, cost model)
    placements: list[NodePlacement]
    partitions: list[PartitionReport]  # the placed ones
    rejected: list[PartitionReport]  # candidates the placement kept on the CPU
    fusions: dict[str, int]
    timeline: list[Span]
    modelled_s: float
    graph: object = field(repr=False, default=None)  # the partitioned GraphModule, for pictures
    edges: list[tuple[str, str]] = field(repr=False, default_factory=list)  # (producer, consumer) call nodes
    inputs: list[str] = field(repr=False, default_factory=list)  # the graph's inputs that are not parameters

    def on(self, where: str) -> list[NodePlacement]:
        """Placements on "cpu", on "hal" (any partition) or on one partition by name."""
        if where == "hal":
            return [p for p in self.placements if p.where != "cpu"]
        return [p for p in self.placements if p.where == where]

    @property
    def bytes_moved(self) -> int:
        return sum(p.bytes_moved for p in self.partitions)

    def cpu_summary(self) -> list[tuple[str, int]]:
        """(reason, how many compute nodes) for the nodes on the CPU, most frequent first (layout glue apart)."""
        explained = {p.reason for p in self.rejected}
        counts = Counter(p.reason for p in self.on("cpu")
                         if not p.reason.startswith(("layout", "glue")) and p.reason not in explained)
        return counts.most_common()

    def headline(self) -> str:
        hal_nodes, cpu_nodes = self.on("hal"), self.on("cpu")
        fused = ", ".join(f"{k}×{v}" for k, v in self.fusions.items() if v) or "none"
        return (f"[{self.kind} graph → {self.device}] {len(self.placements)} call nodes: {len(hal_nodes)} in "
                f"{len(self.partitions)} partition(s), {len(cpu_nodes)} on the CPU; fusions: {fused}; "
                f"{_bytes(self.bytes_moved)} across the link per call; modelled {_us(self.modelled_s)} per call")

    def explain(self) -> str:
        """Every placement decision in sentences: each partition (placed or not) and the CPU nodes by reason."""
        lines = [f"Target: {self.target}"]
        lines += [p.explain() for p in self.partitions + self.rejected]
        for reason, n in self.cpu_summary():
            lines.append(f"{n} node(s) on the CPU: {reason}")
        return "\n".join(lines)

    def table(self) -> str:
        width = max((len(p.node) for p in self.placements), default=4)
        lines = [f"  {'node':<{width}}  {'op':<32} {'placed':<7} why"]
        lines += [f"  {p.node:<{width}}  {p.op:<32} {p.where:<7} {p.reason}" for p in self.placements]
        return "\n".join(lines)

    def __str__(self) -> str:
        return "\n".join([self.headline(), *("  " + line for line in self.explain().splitlines()), self.table()])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(p.name)}</td><td>{html.escape(p.target if p.placed else 'cpu')}</td>"
            f"<td>{' → '.join(map(html.escape, p.kernels))}</td><td>{p.aten_nodes}</td>"
            f"<td>{_us(p.kernel_s)}</td><td>{_us(p.transfer_s)}</td><td>{_bytes(p.bytes_in)}</td>"
            f"<td>{_bytes(p.bytes_out)}</td><td>{_bytes(p.resident_bytes)}</td><td>{_us(p.cpu_s)}</td></tr>"
            for p in self.partitions + self.rejected)
        why = "".join(f"<li>{html.escape(line)}</li>" for line in self.explain().splitlines())
        nodes = "".join(f"<tr><td>{html.escape(p.node)}</td><td>{html.escape(p.op)}</td><td>{html.escape(p.where)}</td>"
                        f"<td>{html.escape(p.reason)}</td></tr>" for p in self.placements)
        return (f"<div><b>{html.escape(self.headline())}</b>"
                "<table><tr><th>partition</th><th>runs on</th><th>kernels</th><th>aten nodes</th><th>kernels</th>"
                "<th>transfers</th><th>up</th><th>down</th><th>resident</th><th>CPU would take</th></tr>"
                f"{rows}</table><ul>{why}</ul>"
                f"<details><summary>every node ({len(self.placements)}): where it runs and why</summary>"
                f"<table><tr><th>node</th><th>op</th><th>placed</th><th>why</th></tr>{nodes}</table></details></div>")


@dataclass
class CompileReport:
    """Every graph the compiler saw (forward, backward, recompiles for new shapes), in order."""

    graphs: list[GraphReport] = field(default_factory=list)

    @property
    def fusions(self) -> Counter:
        total = Counter()
        for g in self.graphs:
            total.update(g.fusions)
        return total

    @property
    def partitions(self) -> list[PartitionReport]:
        return [p for g in self.graphs for p in g.partitions]

    def graph(self, kind: str) -> GraphReport:
        """The latest graph of a kind ("forward", "backward", "inference")."""
        for g in reversed(self.graphs):
            if g.kind == kind:
                return g
        raise KeyError(f"no {kind} graph was compiled (have {[g.kind for g in self.graphs]})")

    def fallbacks(self) -> set[str]:
        """The aten ops (excluding layout glue) that ran on the CPU for want of a HAL op, e.g. {"aten.sort"}."""
        return {p.op for g in self.graphs for p in g.on("cpu") if p.reason.endswith("has no HAL op")}

    def __str__(self) -> str:
        if not self.graphs:
            return "halkit compile report: nothing compiled yet (call the model once)"
        return "\n\n".join(str(g) for g in self.graphs)

    def _repr_html_(self) -> str:
        if not self.graphs:
            return html.escape(str(self))
        return "".join(g._repr_html_() for g in self.graphs)
