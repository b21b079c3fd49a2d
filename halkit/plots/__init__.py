"""halkit's views: every figure and table the notebooks and dashboards show, one module per topic.

* :mod:`.figure` — the contract every plotting function follows (draw on ``ax`` or a new figure, return the
  :class:`Figure`, which shows itself in Jupyter as a PNG without pyplot), ``subplots`` and ``png``;
* :mod:`.bench` — benchmark results: throughput against each case's peak, latency, a table with the spread;
* :mod:`.training` — training histories;
* :mod:`.device` — a device trace: timeline, roofline, knob sweeps, a table in µs and MB;
* :mod:`.compiler` — a compiled graph: partitions and the modelled timeline;
* :mod:`.distributed` — multi-worker runs;
* :mod:`.remote` — a device behind the network: where an op's time goes, what residency saves;
* :mod:`.units` — durations and sizes in the units a person reads (``duration``, ``size``).

Plots read results (rows, records, reports) and import none of the layers that produce them when loaded; a table
that says whether a ratio is significant asks ``halkit.bench`` (imported when called), so "within the noise" has
one definition.
"""
from . import bench, compiler, device, distributed, remote, training
from .bench import COLOURS, benchmark_figure, benchmark_table
from .figure import Figure, png, subplots
from .table import Table
from .training import training_figure, training_table
from .units import duration, size

__all__ = ["COLOURS", "Figure", "Table", "bench", "benchmark_figure", "benchmark_table", "compiler", "device",
           "distributed", "duration", "png", "remote", "size", "subplots", "training", "training_figure",
           "training_table"]
