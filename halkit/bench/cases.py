"""What gets benchmarked: ops on shapes, and how each backend runs them.

A case is one op on one GEMM shape (M rows of output, N columns, K the inner
dimension). Backends are the HAL's (numpy, native, mock, ... through the
public op API, so validation overhead is included, as users pay it) plus
"torch" as the outside reference (torch.matmul / F.linear on tensors that share
the NumPy arrays' memory). bfloat16 operands are ml_dtypes.bfloat16 arrays, and
torch sees the same bits as torch.bfloat16 tensors.
"""
from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np
import torch
import torch.nn.functional as F

from halkit import hal

from .timing import Sampler, loop_sampler

TORCH = "torch"

#: op name -> what it computes, for the table legend and --help.
OPS = {
    "matmul": "C = A @ B (GEMM)",
    "linear": "x @ W.T, the nn.Linear weight layout, no bias (hal.linear(x, w); torch: F.linear): "
              "compare with matmul at the same shape",
    "linear_fused": "relu(x @ W.T + b) in one call (hal.linear(..., activation='relu'); torch: relu(F.linear))",
    "linear_unfused": "matmul -> add_bias -> relu as three calls (torch: relu(x @ W.T + b))",
    "overhead": "1x1x1 matmul: the per-call cost of getting into and out of a backend",
}

#: op name -> the HAL op-set entries it calls: a driver runs the op in a dtype when its capabilities
#: support every one of them (e.g. bfloat16 is a GEMM dtype: drivers may take it for gemm but not add_bias).
HAL_OPS = {
    "matmul": ("gemm",),
    "linear": ("gemm",),
    "linear_fused": ("gemm",),
    "linear_unfused": ("gemm", "add_bias", "relu"),
    "overhead": ("gemm",),
}

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

# The MLPs of the notebooks, as (M=batch, N=out_features, K=in_features):
# the seed's latency layer 64x512->512, and the digits MLP 64->128->128->10 at batch 64.
MLP_SHAPES = ((64, 512, 512), (64, 128, 64), (64, 128, 128), (64, 10, 128))


@dataclass(frozen=True)
class Case:
    op: str
    m: int
    n: int
    k: int
    group: str  # "square", "skinny", "mlp", "overhead", "custom": where the shape comes from

    @property
    def shape(self) -> str:
        return f"{self.m}x{self.n}x{self.k}"

    @property
    def flops(self) -> int:
        """2*M*N*K: the GEMM's multiply-adds, for every op (bias and relu are noise next to them)."""
        return 2 * self.m * self.n * self.k


def sweep(quick: bool = False, ops=tuple(OPS)) -> list[Case]:
    """The standard sweep: square 64..2048, skinny M=1/8/32 x 1024^2, the MLP layers; --quick keeps a few.

    ``linear`` (x @ W.T) runs on the skinny and MLP shapes, where matmul runs too: the same shape in both layouts.
    """
    unknown = set(ops) - set(OPS)
    if unknown:
        raise ValueError(f"unknown op(s) {sorted(unknown)}: choose from {list(OPS)}")
    squares = (64, 256) if quick else (64, 128, 256, 512, 1024, 2048)
    skinny = (8,) if quick else (1, 8, 32)
    mlp = MLP_SHAPES[:1] if quick else MLP_SHAPES
    cases: list[Case] = []
    if "matmul" in ops:
        cases += [Case("matmul", s, s, s, "square") for s in squares]
        cases += [Case("matmul", m, 1024, 1024, "skinny") for m in skinny]
        cases += [Case("matmul", *shape, "mlp") for shape in mlp]
    if "linear" in ops:
        cases += [Case("linear", m, 1024, 1024, "skinny") for m in skinny]
        cases += [Case("linear", *shape, "mlp") for shape in mlp]
    for op in ("linear_fused", "linear_unfused"):
        if op in ops:
            cases += [Case(op, *shape, "mlp") for shape in mlp]
    if "overhead" in ops:
        cases.append(Case("overhead", 1, 1, 1, "overhead"))
    return cases


def hal_gaps(capabilities, op: str, dtype) -> list[str]:
    """The op-set entries ``op`` calls that a driver with these ``capabilities`` (hal.Capabilities) does not
    take in ``dtype``: empty when it runs the op."""
    return [name for name in HAL_OPS[op] if not capabilities.supports(name, dtype)]


def operands(case: Case, dtype, seed: int = 0) -> dict[str, np.ndarray]:
    """Random operands for ``case``: a (M,K), b (K,N) for matmul; x (M,K), w (N,K), bias (N,) for linear.

    bfloat16 operands are drawn as float32 and rounded: the values a float32 model would cast.
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    drawn = np.float32 if dtype == BFLOAT16 else dtype

    def draw(*shape):
        return rng.standard_normal(shape).astype(drawn).astype(dtype, copy=False)

    if case.op in ("matmul", "overhead"):
        return {"a": draw(case.m, case.k), "b": draw(case.k, case.n)}
    return {"x": draw(case.m, case.k), "w": draw(case.n, case.k), "bias": draw(case.n)}


def _hal_call(op: str, arrays: dict[str, np.ndarray]):
    if op in ("matmul", "overhead"):
        a, b = arrays["a"], arrays["b"]
        return lambda: hal.matmul(a, b)
    x, w, bias = arrays["x"], arrays["w"], arrays["bias"]
    if op == "linear":
        return lambda: hal.linear(x, w)
    if op == "linear_fused":
        return lambda: hal.linear(x, w, bias, activation="relu")
    return lambda: hal.relu(hal.add_bias(hal.matmul(x, w, trans_b=True), bias))


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A torch tensor sharing ``a``'s memory: no copy is timed. torch.from_numpy does not know ml_dtypes'
    bfloat16, so its bits go through int16 and are reinterpreted as torch.bfloat16 (the same format)."""
    if a.dtype == BFLOAT16:
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _torch_call(op: str, arrays: dict[str, np.ndarray]):
    t = {name: _tensor(a) for name, a in arrays.items()}
    if op in ("matmul", "overhead"):
        a, b = t["a"], t["b"]
        return lambda: torch.matmul(a, b)
    x, w, bias = t["x"], t["w"], t["bias"]
    if op == "linear":
        return lambda: F.linear(x, w)
    if op == "linear_fused":
        return lambda: torch.relu(F.linear(x, w, bias))
    return lambda: torch.relu(torch.matmul(x, w.T) + bias)


def sampler(case: Case, backend: str, arrays: dict[str, np.ndarray]) -> Sampler:
    """A sampler running ``case`` on ``backend`` n times: the backend is selected once per sample, not per call."""
    if backend == TORCH:
        return loop_sampler(_torch_call(case.op, arrays), torch.inference_mode)
    return loop_sampler(_hal_call(case.op, arrays), lambda: hal.use(backend))
