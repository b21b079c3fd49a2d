"""Benchmark results: a list of row dicts plus the run's metadata, as a table, CSV or JSON.

Ratios (vs_numpy, vs_torch) are speed-ups computed from medians of the SAME
interleaved run: reference median time / this backend's median time, so 2.0
means twice as fast as the reference and 0.5 half as fast.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

COLUMNS = (
    "op", "group", "m", "n", "k", "backend", "threads", "dtype",
    "median_s", "min_s", "max_s", "rounds", "calls_per_sample",
    "gflops", "pct_peak", "vs_numpy", "vs_torch",
)
_INTS = {"m", "n", "k", "threads", "rounds", "calls_per_sample"}
_FLOATS = {"median_s", "min_s", "max_s", "gflops", "pct_peak", "vs_numpy", "vs_torch"}


class Results(list):
    """Rows (dicts with the keys in COLUMNS) and ``meta``: machine, threads, peaks, notes."""

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
        """CSV text, one row per (case, backend, threads), header = COLUMNS; also written to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: ("" if row.get(c) is None else row.get(c)) for c in COLUMNS} for row in self)
        if path is not None:
            _write(path, buf.getvalue())
        return buf.getvalue()

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "Results":
        data = json.loads(_read(text_or_path))
        return cls(data["rows"], data.get("meta"))

    @classmethod
    def from_csv(cls, text_or_path: str | Path) -> "Results":
        """Rows back from CSV (the metadata lives in the JSON only)."""
        return cls(_typed(row) for row in csv.DictReader(io.StringIO(_read(text_or_path))))

    # --- views ---------------------------------------------------------------
    def select(self, **equal) -> "Results":
        """The rows whose fields equal the given values, e.g. ``select(op="matmul", threads=2)``."""
        return Results((r for r in self if all(r.get(k) == v for k, v in equal.items())), self.meta)

    def table(self) -> str:
        """A fixed-width text table, preceded by what was measured how (machine, threads, peak, notes)."""
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
            spread = r["max_s"] / r["min_s"] if r.get("min_s") else float("nan")
            shape = f"{r['m']}x{r['n']}x{r['k']}"
            lines.append(
                f"{r['op']:<15}{shape:<16}{r['threads']:>4} "
                f"{r['backend']:<8}{_duration(r['median_s']):>12}{r['gflops']:>10.2f}"
                f"{_num(r.get('pct_peak'), '.1f'):>8}{_num(r.get('vs_numpy'), '.2f'):>9}"
                f"{_num(r.get('vs_torch'), '.2f'):>9}{spread:>8.2f}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # notebooks: show the table, not a wall of dicts
        from html import escape

        return f"<pre>{escape(self.table())}</pre>"


def _header(meta: dict):
    for key in ("machine", "blas", "native", "numpy_backend", "torch_backend", "threads", "idle_threads", "dtype", "timing"):
        if key in meta:
            yield key, meta[key]
    for threads, peak in meta.get("peaks", {}).items():
        yield f"peak at {threads} thread(s)", f"{peak['gflops']:.1f} GFLOP/s ({peak['source']})"
    for note in meta.get("notes", []):
        yield "note", note
    yield "columns", "x numpy / x torch = speed-up over that backend (median/median, same run); " \
                     "spread = slowest/fastest round"


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.2f} us"


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _typed(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if value == "":
            out[key] = None
        elif key in _INTS:
            out[key] = int(value)
        elif key in _FLOATS:
            out[key] = float(value)
        else:
            out[key] = value
    return out


def _read(text_or_path) -> str:
    if isinstance(text_or_path, Path) or (isinstance(text_or_path, str) and "\n" not in text_or_path
                                          and not text_or_path.lstrip().startswith(("{", "op,"))):
        return Path(text_or_path).read_text()
    return text_or_path


def _write(path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
