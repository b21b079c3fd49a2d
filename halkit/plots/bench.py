"""Benchmark results as a figure (throughput against the peak, latency) and as a table with the spread.

Both take rows in :class:`halkit.bench.Results`' format. A *case* is (op, shape, threads, dtype): float32 and
float64 runs of one shape are different cases, each drawn against its own peak.
"""
from __future__ import annotations

import numpy as np

from .figure import Figure, readable_log_axis, subplots
from .table import Table
from .units import duration, time_unit

#: One colour per backend/variant, stable across figures.
COLOURS = {"numpy": "tab:blue", "native": "tab:orange", "torch": "tab:green", "mock": "tab:purple"}
PEAK_STYLES = ("--", ":", "-.", (0, (6, 2, 1, 2)))


def colour(name: str, i: int) -> str:
    return COLOURS.get(name, f"C{(i + 4) % 10}")


def case_of(row) -> tuple:
    return row["op"], row["m"], row["n"], row["k"], row["threads"], row["dtype"]


def peaks_of(results) -> dict[tuple[int, str], dict]:
    """{(threads, dtype): {"gflops", "source"}} from a run's metadata (one dtype per run, peaks by thread count)."""
    meta = getattr(results, "meta", {})
    return {(int(threads), meta.get("dtype", "float32")): peak for threads, peak in meta.get("peaks", {}).items()}


def spread(row) -> float | None:
    """Slowest round over fastest round: 1.0 on a quiet machine, large when other work shared the cores."""
    return row["max_s"] / row["min_s"] if row.get("min_s") and row.get("max_s") else None


def benchmark_figure(results, title: str | None = None, peaks: dict | None = None) -> Figure:
    """GFLOP/s and time per call for each case, one bar per backend.

    Each case's peak (``peaks[(threads, dtype)]``, default: from the results' metadata) is drawn over its
    own bars, so a float64 case is never measured against the float32 ceiling. Latency whiskers span the
    fastest to the slowest round.
    """
    cases = list(dict.fromkeys(case_of(r) for r in results))
    fig, (ax_rate, ax_time) = subplots(1, 2, figsize=(max(11, 1.1 * len(cases)), 3.8))
    backends = list(dict.fromkeys(r["backend"] for r in results))
    scale, unit = time_unit([r["max_s"] or r["median_s"] for r in results] or [1e-3])
    x = np.arange(len(cases))
    width = 0.8 / max(len(backends), 1)
    for i, backend in enumerate(backends):
        by_case = {case_of(r): r for r in results if r["backend"] == backend}
        rows = [by_case.get(c) for c in cases]
        offset = x + (i - (len(backends) - 1) / 2) * width
        ax_rate.bar(offset, [r["gflops"] if r else np.nan for r in rows], width, label=backend,
                    color=colour(backend, i))
        median = np.array([r["median_s"] / scale if r else np.nan for r in rows])
        low = np.array([(r["median_s"] - (r.get("min_s") or r["median_s"])) / scale if r else 0 for r in rows])
        high = np.array([((r.get("max_s") or r["median_s"]) - r["median_s"]) / scale if r else 0 for r in rows])
        ax_time.bar(offset, median, width, yerr=[low, high], capsize=2, error_kw={"lw": 0.8},
                    label=backend, color=colour(backend, i))
    _draw_peaks(ax_rate, cases, peaks if peaks is not None else peaks_of(results))
    labels = [f"{op}\n{m}×{n}×{k}\n{t} thr · {dtype}" for op, m, n, k, t, dtype in cases]
    for ax in (ax_rate, ax_time):
        ax.set_xticks(x, labels, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    ax_rate.set_ylabel("GFLOP/s (2·M·N·K / median time)")
    ax_time.set_ylabel(f"time per call ({unit}), median")
    if len(results):
        readable_log_axis(ax_time.yaxis)
    ax_rate.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.02), ncol=3, frameon=False)
    ax_rate.set_title("throughput", loc="right")
    ax_time.set_title("latency (whiskers: fastest to slowest round)", loc="right", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def _draw_peaks(ax, cases, peaks) -> None:
    """Each case's (threads, dtype) peak as a segment over its bars; one legend entry per peak."""
    styles = {}
    for x, (*_, threads, dtype) in enumerate(cases):
        peak = peaks.get((threads, dtype))
        if peak is None:
            continue
        first = (threads, dtype) not in styles
        style = styles.setdefault((threads, dtype), PEAK_STYLES[len(styles) % len(PEAK_STYLES)])
        estimate = " (estimate)" if peak["source"].startswith("estimate") else ""
        ax.hlines(peak["gflops"], x - 0.45, x + 0.45, colors="k", linestyles=style, lw=1.2,
                  label=f"peak {threads} thr {dtype}{estimate}: {peak['gflops']:.0f}" if first else None)


def benchmark_table(results, peaks: dict | None = None) -> Table:
    """The rows with time per call, spread, GFLOP/s, % of the case's peak and the speed-ups.

    Uses the significance and noise flags ``halkit.bench`` stores in each row: a speed-up within the noise
    is marked ``~``, a spread whose rounds disagreed ``noisy``, a figure above 100 % of the peak ``!``.
    """
    rows = [(f"{r['op']} {r['m']}×{r['n']}×{r['k']}", r["threads"], r["dtype"], r["backend"],
             duration(r["median_s"]), _fixed(spread(r), ".2f") + (" noisy" if r.get("noisy") else ""),
             f"{r['gflops']:.2f}", _fixed(r.get("pct_peak"), ".1f") + ("!" if r.get("over_peak") else ""),
             ratio(r.get("vs_numpy"), r.get("vs_numpy_significant")),
             ratio(r.get("vs_torch"), r.get("vs_torch_significant"))) for r in results]
    peaks = peaks if peaks is not None else peaks_of(results)
    notes = [f"peak at {t} thread(s), {dtype}: {p['gflops']:.1f} GFLOP/s ({p['source']})"
             for (t, dtype), p in sorted(peaks.items())]
    load = getattr(results, "meta", {}).get("load")
    if load:
        notes.append(f"machine load: {load['text']}")
    notes.append("× numpy, × torch = speed-up over that backend (median / median, same run), ~ = not significant "
                 "(within the round-to-round noise); spread = slowest / fastest round, noisy = the rounds "
                 "disagreed; ! = above 100 % of the peak: a measurement error")
    columns = ("case", "threads", "dtype", "backend", "time/call", "spread", "GFLOP/s", "% peak",
               "× numpy", "× torch")
    return Table(columns, rows, notes, numeric=columns[4:])


def ratio(value: float | None, significant: bool | None) -> str:
    """'1.23' for a significant speed-up, '1.02~' for one within the noise, '-' for none."""
    return "-" if value is None else f"{value:.2f}" + ("~" if significant is False else "")


def _fixed(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def comparison_rows(timings: dict, *, op: str, m: int, n: int, k: int, threads: int, dtype: str = "float32",
                    peak_gflops: float | None = None, reference: str = "numpy") -> list[dict]:
    """Rows in ``halkit.bench.Results``' format from one ``halkit.bench.compare`` of GEMM callables, so a
    hand-made comparison (e.g. ``hal.matmul`` against NumPy's ``a @ b``) gets the same table and figure.

    ``reference`` names the callable the speed-ups are measured against: it fills the ``vs_numpy`` column.
    """
    from halkit.bench.results import speedup, timing_fields

    if reference not in timings:
        raise ValueError(f"reference {reference!r} is not one of the timed callables {list(timings)}")
    flops = 2.0 * m * n * k
    rows = []
    for backend, t in timings.items():
        vs, significant = speedup(timings[reference], t)
        gflops = flops / t.median / 1e9
        rows.append({"op": op, "group": "custom", "m": m, "n": n, "k": k, "backend": backend, "threads": threads,
                     "dtype": dtype, **timing_fields(t), "gflops": gflops,
                     "pct_peak": 100 * gflops / peak_gflops if peak_gflops else None,
                     "over_peak": bool(peak_gflops) and gflops > peak_gflops,
                     "vs_numpy": vs, "vs_numpy_significant": significant, "vs_torch": None})
    return rows


def ratio_summary(results, backend: str, reference: str = "numpy") -> list[str]:
    """One sentence per thread count: how ``backend`` compares with ``reference`` in ``results``, saying how many
    of the differences are significant and how close to the peak it ran. Computed, so it holds on any machine."""
    key = {"numpy": "vs_numpy", "torch": "vs_torch"}[reference]
    lines = []
    for threads in sorted({r["threads"] for r in results}):
        rows = [r for r in results if r["backend"] == backend and r["threads"] == threads and r.get(key) is not None]
        if not rows:
            continue
        ratios = sorted(r[key] for r in rows)
        faster = sum(1 for r in rows if r.get(f"{key}_significant") and r[key] > 1)
        slower = sum(1 for r in rows if r.get(f"{key}_significant") and r[key] < 1)
        line = (f"{threads} thread(s): {backend} is {ratios[0]:.2f}–{ratios[-1]:.2f}× {reference} "
                f"(median {float(np.median(ratios)):.2f}×) over {len(rows)} case(s): {faster} significantly faster, "
                f"{slower} significantly slower, {len(rows) - faster - slower} within the noise")
        peaks = sorted(r["pct_peak"] for r in rows if r.get("pct_peak") is not None)
        if peaks:
            line += f"; {peaks[0]:.0f}–{peaks[-1]:.0f} % of the peak"
        noisy = sum(1 for r in rows if r.get("noisy"))
        if noisy:
            line += f"; {noisy} noisy (rounds disagreed: re-run before trusting them)"
        lines.append(line)
    return lines
