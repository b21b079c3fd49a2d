"""Benchmark results: a list of row dicts plus the run's metadata, as a table, CSV or JSON.

Ratios (vs_numpy, vs_torch) are speed-ups computed from medians of the SAME
interleaved run: reference median time / this candidate's median time, so 2.0
means twice as fast as the reference and 0.5 half as fast. Each ratio carries
whether it is significant (the two interquartile ranges do not overlap); the
tables print a ``~`` after a ratio that is within the round-to-round noise.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .timing import Timing

LEGEND = ("ratio~ = not significant (the two candidates' interquartile ranges overlap: within the noise); "
          "spread = slowest/fastest round; noisy = the rounds disagreed (spread > 1.5 or IQR > 10 % of the median)")


class Rows(list):
    """Rows (dicts with the keys in COLUMNS) and ``meta``; subclasses name their columns and draw their table."""

    COLUMNS: tuple[str, ...] = ()
    INTS: frozenset[str] = frozenset()
    FLOATS: frozenset[str] = frozenset()
    BOOLS: frozenset[str] = frozenset()

    def __init__(self, rows=(), meta: dict | None = None):
        super().__init__(rows)
        self.meta = dict(meta or {})

    # --- serialisation -----------------------------------------------------
    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text ``{"meta": ..., "rows": [...]}``; also written to ``path`` if given."""
        text = json.dumps({"meta": self.meta, "rows": list(self)}, indent=1)
        if path is not None:
            _write(path, text)
        return text

    def to_csv(self, path: str | Path | None = None) -> str:
        """CSV text, one row per measurement, header = COLUMNS; also written to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: ("" if row.get(c) is None else row.get(c)) for c in self.COLUMNS} for row in self)
        if path is not None:
            _write(path, buf.getvalue())
        return buf.getvalue()

    def save(self, directory: str | Path, stem: str) -> tuple[Path, Path]:
        """Write ``stem.json`` and ``stem.csv`` under ``directory``; return both paths."""
        json_path, csv_path = Path(directory) / f"{stem}.json", Path(directory) / f"{stem}.csv"
        self.to_json(json_path)
        self.to_csv(csv_path)
        return json_path, csv_path

    @classmethod
    def from_json(cls, text_or_path: str | Path):
        data = json.loads(_read(text_or_path))
        return cls(data["rows"], data.get("meta"))

    @classmethod
    def from_csv(cls, text_or_path: str | Path):
        """Rows back from CSV (the metadata lives in the JSON only)."""
        return cls(cls._typed(row) for row in csv.DictReader(io.StringIO(_read(text_or_path))))

    @classmethod
    def _typed(cls, row: dict) -> dict:
        out = {}
        for key, value in row.items():
            if value == "":
                out[key] = None
            elif key in cls.INTS:
                out[key] = int(value)
            elif key in cls.FLOATS:
                out[key] = float(value)
            elif key in cls.BOOLS:
                out[key] = value == "True"
            else:
                out[key] = value
        return out

    # --- views ---------------------------------------------------------------
    def select(self, **equal):
        """The rows whose fields equal the given values, e.g. ``select(op="matmul", threads=2)``."""
        return type(self)((r for r in self if all(r.get(k) == v for k, v in equal.items())), self.meta)

    def table(self) -> str:
        raise NotImplementedError

    def _repr_html_(self) -> str:  # notebooks: show the table, not a wall of dicts
        from html import escape

        return f"<pre>{escape(self.table())}</pre>"


COLUMNS = (
    "op", "group", "m", "n", "k", "backend", "threads", "dtype",
    "median_s", "min_s", "max_s", "q1_s", "q3_s", "rounds", "calls_per_sample", "noisy",
    "gflops", "pct_peak", "over_peak", "vs_numpy", "vs_numpy_significant", "vs_torch", "vs_torch_significant",
)


class Results(Rows):
    """GEMM-sweep rows (keys in COLUMNS) and ``meta``: machine, threads, peaks, load, notes."""

    COLUMNS = COLUMNS
    INTS = frozenset({"m", "n", "k", "threads", "rounds", "calls_per_sample"})
    FLOATS = frozenset({"median_s", "min_s", "max_s", "q1_s", "q3_s", "gflops", "pct_peak", "vs_numpy", "vs_torch"})
    BOOLS = frozenset({"noisy", "over_peak", "vs_numpy_significant", "vs_torch_significant"})

    def table(self) -> str:
        """A fixed-width text table, preceded by what was measured how (machine, threads, peak, load, notes)."""
        lines = [f"# {key}: {value}" for key, value in _header(self.meta)]
        head = f"{'op':<15}{'shape MxNxK':<16}{'thr':>4} {'backend':<8}{'time/call':>12}{'GFLOP/s':>10}" \
               f"{'%peak':>8}{'x numpy':>9}{'x torch':>9}{'spread':>8}"
        lines += [head, "-" * len(head)]
        previous = None
        for r in self:
            key = (r["op"], r["m"], r["n"], r["k"], r["threads"])
            if previous is not None and key != previous:
                lines.append("")
            previous = key
            shape = f"{r['m']}x{r['n']}x{r['k']}"
            peak = _num(r.get("pct_peak"), ".1f") + ("!" if r.get("over_peak") else "")
            lines.append(
                f"{r['op']:<15}{shape:<16}{r['threads']:>4} "
                f"{r['backend']:<8}{duration(r['median_s']):>12}{r['gflops']:>10.2f}{peak:>8}"
                f"{ratio_text(r.get('vs_numpy'), r.get('vs_numpy_significant')):>9}"
                f"{ratio_text(r.get('vs_torch'), r.get('vs_torch_significant')):>9}"
                f"{spread_text(r):>8}" + ("  noisy" if r.get("noisy") else "")
            )
        return "\n".join(lines)


def timing_fields(t: Timing) -> dict:
    """The row fields every table stores about one interleaved Timing."""
    q1, q3 = t.quartiles
    return {"median_s": t.median, "min_s": t.min, "max_s": t.max, "q1_s": q1, "q3_s": q3,
            "rounds": len(t.samples), "calls_per_sample": t.calls_per_sample, "noisy": t.noisy}


def speedup(reference: Timing | None, t: Timing) -> tuple[float | None, bool | None]:
    """(reference median / t's median, whether the difference is significant); (None, None) without a reference."""
    if reference is None:
        return None, None
    if reference is t:
        return 1.0, None  # the reference itself: nothing to test
    return reference.median / t.median, reference.differs_from(t)


def _header(meta: dict):
    for key in ("machine", "blas", "native", "numpy_backend", "torch_backend", "threads", "idle_threads", "dtype",
                "bf16_gemm", "timing"):
        if key in meta:
            yield key, meta[key]
    if "load" in meta:
        yield "machine load", meta["load"]["text"]
    for threads, peak in meta.get("peaks", {}).items():
        yield f"peak at {threads} thread(s)", f"{peak['gflops']:.1f} GFLOP/s ({peak['source']})"
    for threads, ceiling in meta.get("ceilings", {}).items():  # a route's own ceiling that is no machine peak
        yield (f"native route's ceiling at {threads} thread(s)",
               f"{ceiling['gflops']:.1f} GFLOP/s ({ceiling['source']}); not this CPU's peak: %peak left out")
    for note in meta.get("notes", []):
        yield "note", note
    yield "columns", "x numpy / x torch = speed-up over that backend (median/median, same run); " \
                     "%peak! = above 100 % of the measured peak: a measurement error, do not use the figure"
    yield "legend", LEGEND


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.2f} us"


def ratio_text(value, significant) -> str:
    """'1.23' for a significant ratio, '1.02~' for one within the noise, '-' for none, '1.00' for the reference."""
    if value is None:
        return "-"
    return f"{value:.2f}" + ("~" if significant is False else "")


def spread_text(row: dict) -> str:
    return f"{row['max_s'] / row['min_s']:.2f}" if row.get("min_s") else "-"


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _read(text_or_path) -> str:
    if isinstance(text_or_path, Path):
        return text_or_path.read_text()
    if "\n" not in text_or_path and not text_or_path.lstrip().startswith("{"):
        return Path(text_or_path).read_text()
    return text_or_path


def _write(path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
