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


def plot_graph(graph_report, ax=None, show_layout: bool = False) -> Figure:
    """The partitioned graph itself: the graph's inputs (white squares) and each call node at its depth (longest
    path from the inputs), coloured by where it runs — one colour per partition, grey for torch on the CPU — with
    its data edges; an edge that crosses between the CPU and a partition is drawn dark (a boundary: a transfer when
    the partition sits behind a link). Layout glue (views, tuple access) is hidden unless ``show_layout``: edges pass
    through it. Parameters are not drawn."""
    placed = {p.node: p for p in graph_report.placements}
    shown = [n for n, p in placed.items() if show_layout or not p.reason.startswith(("layout", "glue"))]
    producers = {n: [] for n in [*graph_report.inputs, *placed]}
    for src, dst in graph_report.edges:
        producers[dst].append(src)
    visible = set(shown) | set(graph_report.inputs)

    def sources(node):  # the nearest drawn producers, through hidden glue
        return [s for src in producers[node] for s in ([src] if src in visible else sources(src))]
    inputs = {n: sorted(set(sources(n))) for n in shown}
    depth = dict.fromkeys(graph_report.inputs, 0)
    rows = {0: list(graph_report.inputs)} if graph_report.inputs else {}
    for n in shown:  # placements are in execution (topological) order
        depth[n] = 1 + max((depth[s] for s in inputs[n]), default=0)
        rows.setdefault(depth[n], []).append(n)
    ax = axes_for(ax, (max(6, 0.45 * (len(rows) + 1)), 1.6 + 0.5 * max(map(len, rows.values()), default=1)))
    position = {n: (d, i - (len(column) - 1) / 2) for d, column in rows.items() for i, n in enumerate(column)}
    names = sorted({placed[n].where for n in shown if placed[n].where != "cpu"})
    color = {name: PARTITION_COLORS[i % len(PARTITION_COLORS)] for i, name in enumerate(names)}
    if any(placed[n].where == "cpu" for n in shown):
        color["cpu"] = LANE_COLORS["host"]
    where = {n: placed[n].where if n in placed else "cpu" for n in position}  # inputs arrive from the host
    bulge = 0.0
    for n in shown:
        for s in inputs[n]:
            crossing = (where[s] == "cpu") != (where[n] == "cpu")
            skip = depth[n] - depth[s] > 1  # a skip connection arcs over the nodes between
            ax.annotate("", xy=position[n], xytext=position[s], zorder=1, arrowprops=dict(
                arrowstyle="-", color="black" if crossing else "lightgrey", linewidth=1.2 if crossing else 0.8,
                shrinkA=0, shrinkB=0, connectionstyle=f"arc3,rad={-0.2 if skip else 0}"))
            bulge = max(bulge, 0.1 * (depth[n] - depth[s]) if skip else 0.0)
    for n in graph_report.inputs:
        ax.scatter(*position[n], s=90, marker="s", color="white", edgecolor="black", zorder=3)
        ax.text(position[n][0], position[n][1] + 0.22, "input", ha="center", va="bottom", fontsize=6, rotation=30)
    for n in shown:
        x, y = position[n]
        ax.scatter(x, y, s=110, color=color[placed[n].where], edgecolor="black", zorder=3)
        ax.text(x, y + 0.22, placed[n].op.split(".")[-1], ha="center", va="bottom", fontsize=6, rotation=30)
    half = max((len(column) - 1) / 2 for column in rows.values()) if rows else 0
    ax.set_ylim(-half - 0.8, half + 1.6 + bulge)  # room for the labels, the skip arcs and the legend
    ax.set_xlim(-0.8, max(rows, default=0) + 0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{graph_report.kind} graph: {len(shown)} nodes by depth, coloured by where they run")
    labels = {name: f"{name} → {graph_report.device}" for name in names} | {"cpu": "cpu (torch)"}
    ax.legend(handles=[Patch(color=c, label=labels[n]) for n, c in color.items()], fontsize=7, loc="upper left",
              ncol=len(color))
    return ax.figure
