"""``python -m halkit.bench``: run the benchmark sweep, print the table, write JSON and CSV.

Exit status: 0 on success, 2 on bad usage (unknown backend or op, malformed
shape, non-positive thread count), with a message saying what is accepted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import idle_threads
from .cases import OPS
from .runner import DEFAULT_BACKENDS, UnknownBackendError, run


def _shape(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        m, n, k = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like MxNxK (e.g. 64x512x512), got {text!r}") from None
    if min(m, n, k) < 1:
        raise argparse.ArgumentTypeError(f"shape sizes must be positive, got {text!r}")
    return m, n, k


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"thread count must be a positive integer, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m halkit.bench",
        description="Benchmark HAL backends against numpy and torch: median of interleaved rounds, "
                    "threads pinned, GFLOP/s, %% of this machine's FMA peak, speed-ups from the same run.",
    )
    p.add_argument("--quick", action="store_true", help="a small, fast sweep for CI (not a measurement)")
    p.add_argument("--backends", nargs="+", metavar="NAME", default=None,
                   help=f"HAL backends and/or torch (default: {' '.join(DEFAULT_BACKENDS)})")
    p.add_argument("--threads", nargs="+", type=_positive, metavar="N", default=None,
                   help="thread counts, each set for halkit, NumPy's BLAS and torch (default: 1 and all cores)")
    p.add_argument("--ops", nargs="+", choices=list(OPS), default=None,
                   help="ops to run (default: all of the standard sweep; matmul with --shapes)")
    p.add_argument("--shapes", nargs="+", type=_shape, metavar="MxNxK", default=None,
                   help="custom GEMM shapes instead of the standard sweep")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--repeats", type=_positive, default=None, help="interleaved rounds (default 9; 3 with --quick)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per sample (default 0.1; 0.01 with --quick)")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="directory for bench.json and bench.csv (default: results/)")
    p.add_argument("--no-save", action="store_true", help="print the table only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    quiet = idle_threads.missing()
    if quiet and argv is None:  # the CLI: restart once with idle BLAS/OpenMP threads asleep (see idle_threads)
        os.execve(sys.executable, [sys.executable, "-m", "halkit.bench", *sys.argv[1:]], {**os.environ, **quiet})
    if args.min_time is not None and not args.min_time > 0:
        parser().error(f"--min-time must be > 0 seconds, got {args.min_time}")
    try:
        results = run(shapes=args.shapes, backends=args.backends, threads=args.threads, dtype=args.dtype,
                      repeats=args.repeats, min_time=args.min_time, ops=args.ops, quick=args.quick,
                      progress=not args.no_progress)
    except UnknownBackendError as exc:
        print(f"python -m halkit.bench: error: {exc}", file=sys.stderr)
        return 2
    print(results.table())
    if not args.no_save:
        json_path, csv_path = args.out / "bench.json", args.out / "bench.csv"
        results.to_json(json_path)
        results.to_csv(csv_path)
        print(f"\nwrote {json_path} and {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
