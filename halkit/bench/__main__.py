"""``python -m halkit.bench [models | overhead]``: run a benchmark, print its table, write JSON and CSV.

* no command: the GEMM sweep (ops x shapes x backends x threads, GFLOP/s, % of peak);
* ``models``: ResNet-18 and a BERT encoder through eager, convert, torch.compile(backend="halkit") and
  inductor, forward and one training step, then the eager-overhead table; ``--autocast bfloat16`` runs every
  route under torch.autocast("cpu", dtype=torch.bfloat16), checked against eager under autocast;
* ``overhead``: the eager-overhead table alone (HALLinear vs nn.Linear), ``--profile`` to see where the
  microseconds go.

Exit status: 0 on success, 2 on bad usage (unknown backend, op, model or route, malformed shape,
non-positive thread count), with a message saying what is accepted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import idle_threads
from .cases import OPS
from .routes import ROUTES
from .runner import DEFAULT_BACKENDS, UnknownBackendError
from .workloads import MODELS, SIZES

EXAMPLES = """examples:
  python -m halkit.bench --quick                      a small GEMM sweep (a smoke test, not a measurement)
  python -m halkit.bench --shapes 64x512x512 --ops matmul linear --threads 1
  python -m halkit.bench --dtype bfloat16             the sweep in bf16: native vs torch, % of the bf16 peak
  python -m halkit.bench models --quick               every model and route once, at all cores
  python -m halkit.bench models --models bert --threads 1 2
  python -m halkit.bench models --autocast bfloat16   every route under torch.autocast(cpu, bfloat16)
  python -m halkit.bench overhead --profile           HALLinear vs nn.Linear, and a profile of a batch-1 forward
"""


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
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _common(p: argparse.ArgumentParser, stem: str, rounds: str, sample: str) -> None:
    """The options every command shares: threads, rounds, sample length, where results go."""
    p.add_argument("--quick", action="store_true", help="fewer rounds and shorter samples: a smoke test for CI, "
                                                        "not a measurement")
    p.add_argument("--threads", nargs="+", type=_positive, metavar="N", default=None,
                   help="thread counts, each pinned for halkit, NumPy's BLAS and torch "
                        "(default: 1 and all cores; all cores with --quick)")
    p.add_argument("--repeats", type=_positive, metavar="ROUNDS", default=None,
                   help=f"interleaved rounds, the median is reported ({rounds})")
    p.add_argument("--min-time", type=_seconds, metavar="SECONDS", default=None,
                   help=f"minimum length of one timed sample ({sample})")
    p.add_argument("--out", type=Path, default=Path("results"), metavar="DIR",
                   help=f"directory for {stem}.json and {stem}.csv (default: results/)")
    p.add_argument("--no-save", action="store_true", help="print the table only, write no files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m halkit.bench", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Benchmark HAL backends against numpy and torch: median of interleaved rounds, threads\n"
                    "pinned, GFLOP/s, % of this machine's FMA peak, speed-ups from the same run with their\n"
                    "spread, the machine's load stated next to the numbers.\n\n"
                    "Without a command: the GEMM sweep. `models`: real models through four routes;\n"
                    "`overhead`: HALLinear vs nn.Linear per call. `python -m halkit.bench COMMAND --help`.")
    _common(p, "bench", "default 9; 3 with --quick", "default 0.1 s; 0.01 s with --quick")
    p.add_argument("--backends", nargs="+", metavar="NAME", default=None,
                   help=f"HAL backends and/or torch (default: {' '.join(DEFAULT_BACKENDS)})")
    p.add_argument("--ops", nargs="+", choices=list(OPS), default=None, metavar="OP",
                   help="ops to run: " + "; ".join(f"{k}: {v}" for k, v in OPS.items())
                        + " (default: all, on the standard sweep; matmul with --shapes)")
    p.add_argument("--shapes", nargs="+", type=_shape, metavar="MxNxK", default=None,
                   help="custom GEMM shapes instead of the standard sweep")
    p.add_argument("--dtype", choices=["float32", "float64", "bfloat16"], default="float32",
                   help="element type of the operands (default float32; the %% of peak is fp32's). bfloat16: "
                        "native and torch only (NumPy has no bf16 GEMM), %% of peak = the native bf16 route's "
                        "ceiling (vdpbf16ps on avx512_bf16, fp32 FMA on widened); left out ('-', with a note) "
                        "where the CPU's bf16 hardware is faster than that ceiling (AMX; widened on AVX512_BF16)")
    commands = p.add_subparsers(dest="command", title="commands", metavar="{models,overhead}")

    models = commands.add_parser(
        "models", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        help="real models through eager, convert, torch.compile(backend='halkit') and inductor",
        description="Time ResNet-18 (batch 8, 3x64x64) and a BERT encoder (2 layers, hidden 128, batch 8,\n"
                    "seq 128) through each route, an inference forward and one SGD training step, each route's\n"
                    "output and gradients checked against eager; then the eager-overhead table (HALLinear vs\n"
                    "nn.Linear). The first run compiles with inductor for minutes; later runs hit its cache.")
    _common(models, "models", "default 9; 3 with --quick", "default 0.2 s; 0.01 s with --quick")
    models.add_argument("--models", nargs="+", choices=list(MODELS), default=None, metavar="MODEL",
                        help=f"models to run: {', '.join(MODELS)} (default: all)")
    models.add_argument("--routes", nargs="+", choices=list(ROUTES), default=None, metavar="ROUTE",
                        help="routes to run (eager always runs: it is the reference): "
                             + "; ".join(f"{k}: {v}" for k, v in ROUTES.items()))
    models.add_argument("--modes", nargs="+", choices=["forward", "train"], default=["forward", "train"],
                        help="forward (inference, no_grad) and/or train (one SGD step) (default: both)")
    models.add_argument("--size", choices=list(SIZES), default="standard",
                        help="standard: the workloads above; tiny: the same architectures shrunk, for tests")
    models.add_argument("--autocast", choices=["bfloat16"], default=None, metavar="DTYPE",
                        help="run every route under torch.autocast('cpu', dtype=DTYPE) (bfloat16 only: halkit has "
                             "no float16 GEMMs); a train step's forward and loss under it, backward outside; each "
                             "route checked against eager under autocast with a bf16 tolerance, and a note says "
                             "what each route really computes in bf16 (default: off, float32; the eager-overhead "
                             "table stays float32)")
    models.add_argument("--no-overhead", action="store_true", help="skip the eager-overhead table")

    overhead = commands.add_parser(
        "overhead", help="HALLinear vs nn.Linear per call (eager overhead), optionally profiled",
        description="HALLinear on the current HAL backend vs nn.Linear: forward 1x64->64 (no grad), "
                    "forward+backward 1x64->64, forward 64x512->512; time ratios from one interleaved run "
                    "against issue 13's targets.")
    _common(overhead, "overhead", "default 15; 5 with --quick", "default 0.1 s; 0.01 s with --quick")
    overhead.add_argument("--profile", action="store_true",
                          help="also profile HALLinear's batch-1 forward with cProfile: where the time goes")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    quiet = idle_threads.missing()
    if quiet and argv is None:  # the CLI: restart once with idle BLAS/OpenMP threads asleep (see idle_threads)
        os.execve(sys.executable, [sys.executable, "-m", "halkit.bench", *sys.argv[1:]], {**os.environ, **quiet})
    try:
        if args.command == "models":
            return _models(args)
        if args.command == "overhead":
            return _overhead(args)
        return _sweep(args)
    except UnknownBackendError as exc:
        print(f"python -m halkit.bench: error: {exc}", file=sys.stderr)
        return 2


def _sweep(args) -> int:
    from .runner import run

    results = run(shapes=args.shapes, backends=args.backends, threads=args.threads, dtype=args.dtype,
                  repeats=args.repeats, min_time=args.min_time, ops=args.ops, quick=args.quick,
                  progress=not args.no_progress)
    _emit(results, args, "bench")
    return 0


def _models(args) -> int:
    from .models import run_models

    results = run_models(models=args.models, routes=args.routes, threads=args.threads, modes=args.modes,
                         rounds=args.repeats, min_time=args.min_time, quick=args.quick, size=args.size,
                         progress=not args.no_progress, autocast=args.autocast)
    _emit(results, args, "models")
    if not args.no_overhead:
        print()
        _overhead(args)
    return 0


def _overhead(args) -> int:
    from halkit import hal

    from .latency import eager_overhead, profile_forward
    from .runner import default_threads
    from .threads import pinned_threads

    threads = args.threads or default_threads(args.quick)
    results = eager_overhead(threads=threads, rounds=args.repeats or (5 if args.quick else 15),
                             min_time=args.min_time or (0.01 if args.quick else 0.1))
    _emit(results, args, "overhead")
    if getattr(args, "profile", False):  # `models` shares this table but has no --profile
        for count in threads:
            with pinned_threads(count):
                print(f"\n# where HALLinear's time goes: cProfile of a batch-1 forward (1x64->64, no grad) on "
                      f"{hal.current_backend()}, {count} thread(s); cProfile's own cost inflates every call, so "
                      f"read the shares, not the times\n{profile_forward()}", end="")
    return 0


def _emit(results, args, stem: str) -> None:
    print(results.table())
    if not args.no_save:
        json_path, csv_path = results.save(args.out, stem)
        print(f"\nwrote {json_path} and {csv_path}")


if __name__ == "__main__":
    sys.exit(main())
