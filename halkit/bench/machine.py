"""Which machine a figure came from: CPU model, the ISA extensions that matter for GEMM, usable CPUs, OS.

The CPU under halkit changes between machines (AMD AVX2, AMD AVX-512, Intel
AVX-512 + AMX have all appeared), so every table names it.
"""
from __future__ import annotations

import platform

from halkit import hal

#: /proc/cpuinfo flags worth naming next to a GEMM figure, in the order printed.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def _cpuinfo() -> dict[str, str]:
    """The first CPU's /proc/cpuinfo entries ({} where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())  # the first CPU's entries
    except OSError:
        pass
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's ISA flags as /proc/cpuinfo names them (e.g. "avx512_bf16", "amx_bf16"); empty where unknown."""
    return frozenset(_cpuinfo().get("flags", "").split())


def describe() -> str:
    """e.g. 'Intel(R) Xeon(R) Processor (avx2 fma avx512f avx512_bf16 amx_tile amx_bf16), 2 usable CPUs, Linux 6.1'."""
    fields = _cpuinfo()
    model = fields.get("model name") or platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    isa = " ".join(f for f in ISA_FLAGS if f in flags)
    return (f"{model}{f' ({isa})' if isa else ''}, {hal.usable_cores()} usable CPUs, "
            f"{platform.system()} {platform.release()}")
