"""The capability matrix: what each driver runs (ops × dtypes, and how), its memory and link, and how it
fared on every other feature — one table across drivers, from their conformance reports."""
from __future__ import annotations

import inspect

from ..hal import Driver, opset
from .runner import FAIL, NA, PASS, XFAIL, XPASS, Report

#: a passing op check's mark says where the op ran
ROUTE_MARK = {"native": "✓", "decomposed": "d", "host": "h"}
STATUS_MARK = {FAIL: "✗", XFAIL: "x", XPASS: "!", NA: "-"}
LEGEND = ("✓ runs on the device · d decomposed into device ops · h host fallback (counted) · ✗ FAILS · "
          "x expected failure · ! listed as unsupported but passes · - not applicable · (blank) dtype not declared")
_SHORT = {"float32": "f32", "float64": "f64", "bfloat16": "b16"}


def contract_table() -> str:
    """The methods a driver implements — halkit.hal.Driver's abstract ones, then the optional ones it may
    override — with the first sentence of each one's contract."""
    optional = ("close", "destroy_stream")
    names = [n for n in vars(Driver) if n in Driver.__abstractmethods__] + [n for n in optional if hasattr(Driver, n)]
    rows = []
    for name in names:
        method = getattr(Driver, name)
        params = ", ".join(p for p in inspect.signature(method).parameters if p != "self")
        sentence = " ".join((inspect.getdoc(method) or "").split()).split(". ")[0].rstrip(".")
        rows.append((f"{name}({params})", sentence + (" (optional)" if name in optional else "")))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{signature:<{width}}  {doc}" for signature, doc in rows)


def _op_mark(report: Report, op: str, dtype: str) -> str:
    try:
        result = report[f"ops.{op}.{dtype}"]
    except StopIteration:
        return ""
    if result.status == PASS:
        return "".join(ROUTE_MARK.get(r, "?") for r in result.note.split("/")) or "✓"
    return STATUS_MARK[result.status]


def _device_lines(report: Report) -> list[tuple[str, str]]:
    caps = report.capabilities
    declared = len(caps.ops)
    link = caps.link
    return [
        ("memory", f"{caps.memory_bytes / 2**30:.3g} GiB " + ("(host memory, zero-copy)" if caps.host_memory
                                                               else "(device memory)")),
        ("link", "none: computes in host memory" if link is None else
         f"{link.h2d_bandwidth / 1e9:.3g} GB/s up, {link.d2h_bandwidth / 1e9:.3g} GB/s down, "
         f"{link.latency * 1e6:.3g} µs"),
        ("dtypes", ", ".join(caps.dtypes) + "".join(f"; {op} also {', '.join(names)}"
                                                     for op, names in caps.op_dtypes.items())),
        ("ops", f"{declared} of {len(opset.OPS)} on the device"),
        ("cost model", caps.cost.name),
        ("verdict", report.summary()),
    ]


def capability_matrix(reports: list[Report]) -> str:
    """The matrix of one or more conformance reports, as text (monospace)."""
    reports = list(reports)
    dtypes = tuple(_SHORT)
    width = 29
    col = max(12, *(len(r.driver) + 2 for r in reports))
    lines = [f"Capability matrix — {LEGEND}", ""]
    lines.append(f"{'op':<{width}}" + "".join(f"{r.driver:<{col}}" for r in reports))
    lines.append(" " * width + "".join(f"{' '.join(f'{_SHORT[d]:<3}' for d in dtypes):<{col}}" for _ in reports))
    for op in opset.OPS:
        cells = "".join(f"{' '.join(f'{_op_mark(r, op, d):<3}' for d in dtypes):<{col}}" for r in reports)
        lines.append(f"{op:<{width}}{cells}".rstrip())
    features = [res.feature for res in reports[0].results if not res.feature.startswith("ops.")]
    for r in reports[1:]:
        features += [res.feature for res in r.results if not res.feature.startswith("ops.") and res.feature not in features]
    lines += ["", f"{'feature':<{width}}" + "".join(f"{r.driver:<{col}}" for r in reports)]
    for feature in features:
        cells = []
        for r in reports:
            try:
                cells.append(r[feature].status)
            except StopIteration:
                cells.append("")
        lines.append(f"{feature:<{width}}" + "".join(f"{c:<{col}}" for c in cells).rstrip())
    for r in reports:
        lines += ["", f"{r.driver}:"]
        lines += [f"  {k:<11}{v}" for k, v in _device_lines(r)]
        for res in r.results:
            if res.status in (FAIL, XFAIL, XPASS):
                label = {FAIL: "FAILS", XFAIL: "expected failure", XPASS: "stale expected failure"}[res.status]
                lines.append(f"  {label}: {res.feature} — {res.message.splitlines()[0] if res.message else ''}")
    return "\n".join(lines)
