"""The compile report: where every node runs and why, the partitions, the fusions, the modelled time."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .placement import NodePlacement
from .timeline import Span


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


@dataclass(frozen=True)
class PartitionReport:
    name: str
    kernels: tuple[str, ...]  # the HAL kernels after fusion, e.g. ("linear[relu]", "softmax")
    aten_nodes: int  # aten call nodes it replaced (layout glue included)
    kernel_s: float
    transfer_s: float
    bytes_in: int
    bytes_out: int
    cpu_s: float  # the same nodes modelled on the CPU

    @property
    def modelled_s(self) -> float:
        return self.kernel_s + self.transfer_s


@dataclass
class GraphReport:
    kind: str  # "forward", "backward" or "inference"
    device: str
    placements: list[NodePlacement]
    partitions: list[PartitionReport]
    fusions: dict[str, int]
    timeline: list[Span]
    modelled_s: float
    graph: object = field(repr=False, default=None)  # the partitioned GraphModule, for pictures

    def on(self, where: str) -> list[NodePlacement]:
        """Placements on "cpu", on "hal" (any partition) or on one partition by name."""
        if where == "hal":
            return [p for p in self.placements if p.where != "cpu"]
        return [p for p in self.placements if p.where == where]

    def __str__(self) -> str:
        hal_nodes, cpu_nodes = self.on("hal"), self.on("cpu")
        fused = ", ".join(f"{k}×{v}" for k, v in self.fusions.items() if v) or "none"
        lines = [
            f"[{self.kind} graph on {self.device}] {len(self.placements)} call nodes: {len(hal_nodes)} in "
            f"{len(self.partitions)} HAL partition(s), {len(cpu_nodes)} on CPU; fusions: {fused}; "
            f"modelled {_us(self.modelled_s)} per call",
        ]
        for p in self.partitions:
            lines.append(
                f"  {p.name}: {' → '.join(p.kernels)}  ({len(p.kernels)} HAL kernels for {p.aten_nodes} aten nodes)  "
                f"modelled {_us(p.modelled_s)} = kernels {_us(p.kernel_s)} + transfers {_us(p.transfer_s)} "
                f"({p.bytes_in:,} B in, {p.bytes_out:,} B out); CPU would take {_us(p.cpu_s)}"
            )
        width = max((len(p.node) for p in self.placements), default=4)
        lines.append(f"  {'node':<{width}}  {'op':<32} {'placed':<7} why")
        for p in self.placements:
            lines.append(f"  {p.node:<{width}}  {p.op:<32} {p.where:<7} {p.reason}")
        return "\n".join(lines)


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
        """The aten ops (excluding layout glue) that ran on the CPU, e.g. {"aten.sort"}."""
        return {p.op for g in self.graphs for p in g.on("cpu") if p.reason.endswith("has no HAL op")}

    def __str__(self) -> str:
        if not self.graphs:
            return "halkit compile report: nothing compiled yet (call the model once)"
        return "\n\n".join(str(g) for g in self.graphs)
