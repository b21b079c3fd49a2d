"""Pictures of a compiled graph (``halkit.runtime``'s report): the partitioned graph as swim lanes, and the
modelled timeline."""
from __future__ import annotations

from matplotlib.patches import Patch

from .figure import Figure, axes_for

LANE_COLORS = {"host": "#8C8C8C", "h2d": "#4C72B0", "device": "#C44E52", "d2h": "#55A868"}
PARTITION_COLORS = ("#C44E52", "#DD8452", "#8172B2", "#937860", "#DA8BC3", "#CCB974", "#64B5CD")


def plot_partitions(graph_report, ax=None, show_layout: bool = False) -> Figure:
    """The graph's call nodes in execution order, HAL partitions (one colour each) on the upper lane and
    torch's CPU nodes on the lower one; a line joins consecutive nodes, so every CPU↔HAL hop shows."""
    placements = [p for p in graph_report.placements
                  if show_layout or not p.reason.startswith(("layout", "glue"))]
    ax = axes_for(ax, (max(6, 0.35 * len(placements)), 2.8))
    names = sorted({p.where for p in placements if p.where != "cpu"})
    color = {name: PARTITION_COLORS[i % len(PARTITION_COLORS)] for i, name in enumerate(names)}
    color["cpu"] = LANE_COLORS["host"]
    for x, p in enumerate(placements):
        y = 0 if p.where == "cpu" else 1
        ax.scatter(x, y, s=120, color=color[p.where], edgecolor="black", zorder=3)
        ax.text(x, y + (0.18 if y else -0.18), p.op.replace("aten.", ""), rotation=60 if y else -60,
                ha="left" if y else "right", va="bottom" if y else "top", fontsize=7)
        if x:
            ax.plot([x - 1, x], [0 if placements[x - 1].where == "cpu" else 1, y], color="lightgrey", zorder=1)
    ax.set_yticks([0, 1], ["CPU (torch)", f"HAL ({graph_report.device})"])
    ax.set_ylim(-1.2, 2.2)
    ax.set_xticks([])
    ax.set_title(f"{graph_report.kind} graph: {len(placements)} nodes in execution order")
    ax.legend(handles=[Patch(color=c, label=n) for n, c in color.items()], fontsize=7, loc="upper right",
              ncol=len(color))
    return ax.figure


def plot_timeline(graph_report, ax=None) -> Figure:
    """Gantt chart of the modelled call: host ops, uploads, device partitions, downloads (µs)."""
    ax = axes_for(ax, (10, 2.4))
    lanes = [lane for lane in LANE_COLORS if any(s.lane == lane for s in graph_report.timeline)]
    for span in graph_report.timeline:
        y = lanes.index(span.lane)
        width = (span.end - span.start) * 1e6
        ax.barh(y, width, left=span.start * 1e6, height=0.6, color=LANE_COLORS[span.lane], edgecolor="white")
        if span.name.startswith("hal_"):  # a HAL kernel: label it with its node name
            ax.text(span.start * 1e6 + width / 2, y, span.name.split(".")[-1], ha="center", va="center",
                    fontsize=6, color="white", clip_on=True)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.invert_yaxis()
    ax.set_xlabel("modelled time (µs)")
    ax.set_title(f"{graph_report.kind} on {graph_report.device}: {graph_report.modelled_s * 1e6:.1f} µs modelled")
    return ax.figure
