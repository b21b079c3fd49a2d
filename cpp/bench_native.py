"""Interleaved micro-benchmarks of halkit._native against NumPy (OpenBLAS) in one process.

    python cpp/bench_native.py gemm            # the issue-3 GEMM table (1 and 2 threads)
    python cpp/bench_native.py gemm --shapes 1x1024x1024t   # MxNxK, suffix t = trans_b
    python cpp/bench_native.py overhead        # 1x1 call overhead vs a bare pybind11 call
    python cpp/bench_native.py fused           # linear+bias+relu fused vs three calls
    python cpp/bench_native.py pool            # thread-pool dispatch latency
    python cpp/bench_native.py ew              # element-wise kernels, 1 vs 2 threads

Timing: each round times native then numpy back to back (alternating the order),
`--rounds` rounds of `reps` calls each; we report medians.  Threads of both
sides are pinned (halkit: set_num_threads, numpy: threadpoolctl).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import halkit._native as nat

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None


def _limits(n):
    if threadpool_limits is None:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(n)


CLOCK = time.perf_counter
STAT = np.median


def timeit(f, reps):
    t = CLOCK()
    for _ in range(reps):
        f()
    return (CLOCK() - t) / reps


def compare(f_native, f_numpy, rounds, reps):
    tn, tb = [], []
    for r in range(rounds):
        if r % 2:
            tb.append(timeit(f_numpy, reps))
            tn.append(timeit(f_native, reps))
        else:
            tn.append(timeit(f_native, reps))
            tb.append(timeit(f_numpy, reps))
    return float(STAT(tn)), float(STAT(tb))


DEFAULT_SHAPES = ["256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048",
                  "1x1024x1024", "8x1024x1024", "32x1024x1024", "64x1024x1024",
                  "1x1024x1024t", "8x1024x1024t", "32x1024x1024t", "64x1024x1024t", "64x512x512t"]


def parse_shape(s):
    tb = s.endswith("t")
    m, n, k = (int(v) for v in s.rstrip("t").split("x"))
    return m, n, k, tb


def bench_gemm(args):
    rng = np.random.default_rng(0)
    print(f"isa={nat.info()['isa']} dtype={args.dtype}")
    print(f"{'thr':>3} {'M x N x K':>18} {'tB':>2} {'native GF/s':>11} {'numpy GF/s':>10} {'ratio':>6}")
    rows = []
    for threads in args.threads:
        nat.set_num_threads(threads)
        with _limits(threads):
            for s in args.shapes:
                m, n, k, tb = parse_shape(s)
                a = rng.standard_normal((m, k)).astype(args.dtype)
                b = rng.standard_normal((n, k) if tb else (k, n)).astype(args.dtype)
                bt = b.T
                flops = 2.0 * m * n * k
                reps = max(1, int(2e8 / flops)) if flops < 2e8 else 1
                rounds = args.rounds if flops < 4e9 else max(3, args.rounds // 3)
                fn = (lambda: nat.gemm(a, b, False, True)) if tb else (lambda: nat.gemm(a, b))
                fb = (lambda: a @ bt) if tb else (lambda: a @ b)
                fn(), fb()
                tn, tbl = compare(fn, fb, rounds, reps)
                gn, gb = flops / tn / 1e9, flops / tbl / 1e9
                rows.append((threads, s, gn, gb, gn / gb))
                print(f"{threads:>3} {m:>6}x{n:>5}x{k:>5} {'T' if tb else ' ':>2} {gn:>11.1f} {gb:>10.1f} {gn / gb:>6.2f}",
                      flush=True)
    return rows


def bench_overhead(args):
    a = np.ones((1, 1), np.float32)
    b = np.ones((1, 1), np.float32)
    x = np.ones(1, np.float32)
    nat.set_num_threads(2)
    with _limits(1):
        cases = [
            ("gemm 1x1x1", lambda: nat.gemm(a, b)),
            ("numpy a@b 1x1", lambda: a @ b),
            ("relu n=1", lambda: nat.relu(x)),
            ("np.maximum n=1", lambda: np.maximum(x, 0)),
            ("bare pybind11 call (get_num_threads)", nat.get_num_threads),
        ]
        for n in (16, 32, 64):
            an = np.ones((n, n), np.float32)
            cases.append((f"gemm {n}^3", lambda an=an: nat.gemm(an, an)))
            cases.append((f"numpy {n}^3", lambda an=an: an @ an))
        res = {name: [] for name, _ in cases}
        for _ in range(args.rounds):
            for name, f in cases:
                res[name].append(timeit(f, 2000))
    for name, v in res.items():
        print(f"{name:>40}: {np.median(v) * 1e6:7.3f} us")


def bench_fused(args):
    rng = np.random.default_rng(0)
    m, n, k = 64, 512, 512
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    for threads in args.threads:
        nat.set_num_threads(threads)
        fused = lambda: nat.gemm(x, w, False, True, bias, 1)  # noqa: E731
        three = lambda: nat.relu(nat.add_bias(nat.gemm(x, w, False, True), bias))  # noqa: E731
        with _limits(threads):
            tn, t3 = compare(fused, three, args.rounds, 50)
            _, tnp = compare(fused, lambda: np.maximum(x @ w.T + bias, 0), args.rounds, 50)
        print(f"threads={threads} 64x512x512 fused {tn * 1e6:.1f} us, 3 calls {t3 * 1e6:.1f} us "
              f"(x{t3 / tn:.2f}); numpy 3 ops {tnp * 1e6:.1f} us")


def bench_pool(args):
    # dispatch latency: a 2-thread element-wise op just above the threading threshold vs 1 thread
    for size in (1 << 13, 1 << 15, 1 << 16, 1 << 18, 1 << 20):
        x = np.ones(size, np.float32)
        res = {}
        for threads in (1, 2):
            nat.set_num_threads(threads)
            res[threads] = np.median([timeit(lambda: nat.relu(x), 200) for _ in range(args.rounds)])
        print(f"relu n={size:>8}: 1 thr {res[1] * 1e6:8.2f} us  2 thr {res[2] * 1e6:8.2f} us")


def bench_ew(args):
    rng = np.random.default_rng(0)
    for size in (1 << 12, 1 << 15, 1 << 17, 1 << 20):
        x = rng.standard_normal(size).astype(np.float32)
        for name, fn, fb in [("relu", nat.relu, lambda v: np.maximum(v, 0)),
                             ("gelu", nat.gelu, None),
                             ("add", lambda v: nat.add(v, v), lambda v: v + v)]:
            out = []
            for threads in (1, 2):
                nat.set_num_threads(threads)
                out.append(np.median([timeit(lambda: fn(x), 50) for _ in range(args.rounds)]))
            ref = np.median([timeit(lambda: fb(x), 50) for _ in range(args.rounds)]) if fb else float("nan")
            print(f"{name:>5} n={size:>8}: 1 thr {out[0] * 1e6:8.2f} us  2 thr {out[1] * 1e6:8.2f} us  numpy {ref * 1e6:8.2f} us")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["gemm", "overhead", "fused", "pool", "ew"])
    p.add_argument("--shapes", nargs="*", default=DEFAULT_SHAPES)
    p.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    p.add_argument("--dtype", default="float32")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--cpu", action="store_true",
                   help="time with the calling thread's CPU clock (1-thread runs on a busy machine)")
    p.add_argument("--stat", choices=["median", "min"], default="median",
                   help="min approximates an unloaded machine when other jobs share the cores")
    args = p.parse_args()
    global STAT  # noqa: PLW0603
    STAT = np.min if args.stat == "min" else np.median
    if args.cpu:
        global CLOCK  # noqa: PLW0603
        CLOCK = time.thread_time
    {"gemm": bench_gemm, "overhead": bench_overhead, "fused": bench_fused, "pool": bench_pool, "ew": bench_ew}[args.what](args)


if __name__ == "__main__":
    main()
