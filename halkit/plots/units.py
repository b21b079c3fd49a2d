"""Numbers with the units a person reads: 94.9 µs rather than 9.488e-05 s, 2.1 MB rather than 2097152."""
from __future__ import annotations

import math

#: (scale, unit) from the largest to the smallest; a duration is written in the first unit it reaches 1 in.
TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
SIZE_UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B"))


def time_unit(seconds) -> tuple[float, str]:
    """``(scale, unit)`` that writes the largest of ``seconds`` as a number ≥ 1 (µs for 9.5e-05)."""
    largest = max((abs(s) for s in seconds if s is not None and math.isfinite(s)), default=0.0)
    return next(((scale, unit) for scale, unit in TIME_UNITS if largest >= scale), TIME_UNITS[-1])


def duration(seconds: float | None) -> str:
    """``9.488e-05`` → ``'94.9 µs'``, ``2.1e-05`` → ``'21.0 µs'``, 0 → ``'0'``; None → ``'-'``."""
    if seconds is None:
        return "-"
    if seconds == 0:
        return "0"
    seconds = float(f"{seconds:.3g}")  # 0.9999 s is written 1.00 s, not 1000 ms
    scale, unit = time_unit([seconds])
    return f"{_three_digits(seconds / scale)} {unit}"


def size(nbytes: float | None) -> str:
    """``2097152`` → ``'2.10 MB'`` (decimal units, like link bandwidths), ``512`` → ``'512 B'``; None → ``'-'``."""
    if nbytes is None:
        return "-"
    nbytes = float(f"{nbytes:.3g}")
    scale, unit = next(((s, u) for s, u in SIZE_UNITS if abs(nbytes) >= s), SIZE_UNITS[-1])
    return f"{_three_digits(nbytes / scale) if unit != 'B' else f'{nbytes:.0f}'} {unit}"


def _three_digits(value: float) -> str:
    """Three significant digits, trailing zeros kept so a column lines up: 21.0, 1.50, 146."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"
