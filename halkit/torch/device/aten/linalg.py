"""Matrix products: mm, addmm (linear's path), bmm, baddbmm — one HAL GEMM each, transposes read in place."""
from __future__ import annotations

import torch

from .. import memory
from .common import Plan, computable, family, operand, run


def _check_matrices(name: str, a: torch.Tensor, b: torch.Tensor, rank: int) -> None:
    if a.dim() != rank or b.dim() != rank:
        raise RuntimeError(f"{name}: expected {rank}-D tensors, got {a.dim()}-D and {b.dim()}-D")
    if a.shape[-1] != b.shape[-2] or (rank == 3 and a.shape[0] != b.shape[0]):
        raise RuntimeError(f"{name}: shapes cannot be multiplied ({'x'.join(map(str, a.shape))} and "
                           f"{'x'.join(map(str, b.shape))})")


def _batched_operand(t: torch.Tensor):
    """A 3-D operand as (dense DeviceArray, transposed?), reading a transpose of the last two axes in place."""
    if not t.is_contiguous() and t.transpose(1, 2).is_contiguous():
        return memory.as_array(t.transpose(1, 2)), True
    return memory.as_array(t), False


def _mm_plan(self, mat2) -> Plan:
    computable(self, mat2)
    _check_matrices("mm", self, mat2, 2)
    (a, trans_a), (b, trans_b) = memory.gemm_operand(self), memory.gemm_operand(mat2)
    return Plan("gemm", [a, b, None], dict(trans_a=trans_a, trans_b=trans_b, activation=None))


def _bmm_plan(self, mat2) -> Plan:
    computable(self, mat2)
    _check_matrices("bmm", self, mat2, 3)
    (a, trans_a), (b, trans_b) = _batched_operand(self), _batched_operand(mat2)
    return Plan("bmm", [a, b], dict(trans_a=trans_a, trans_b=trans_b))


def _row_bias(bias: torch.Tensor, columns: int):
    """The (columns,) vector a bias broadcast along rows is (``linear``'s bias), or None."""
    if bias.dim() == 1 and bias.shape[0] == columns:
        return memory.as_array(bias)
    if bias.dim() == 2 and bias.shape[1] == columns and (bias.shape[0] == 1 or bias.stride(0) == 0):
        return memory.as_array(bias[0])
    return None


def _scaled_sum(product: Plan, self, beta, alpha) -> Plan:
    """beta·self + alpha·product (torch's addmm/baddbmm), self broadcast to the product's shape."""
    y = run(product.op, product.inputs, **product.params)
    if float(alpha) != 1.0:
        y = run("scale", [y], alpha=float(alpha))
    if float(beta) == 0.0:  # torch ignores self entirely (NaN included) when beta is 0
        return Plan("scale", [y], dict(alpha=1.0))
    c = operand(self, y.shape, self.dtype, y.driver)
    if float(beta) != 1.0:
        c = run("scale", [c], alpha=float(beta))
    return Plan("add", [c, y], {})


def _addmm_plan(self, mat1, mat2, beta=1, alpha=1) -> Plan:
    product = _mm_plan(mat1, mat2)
    computable(self, mat1)
    bias = _row_bias(self, mat2.shape[1]) if float(beta) == 1.0 and float(alpha) == 1.0 else None
    if bias is not None:  # linear: the bias rides along in the GEMM's epilogue
        a, b, _ = product.inputs
        return Plan("gemm", [a, b, bias], product.params)
    return _scaled_sum(product, self, beta, alpha)


def _baddbmm_plan(self, batch1, batch2, beta=1, alpha=1) -> Plan:
    computable(self, batch1)
    return _scaled_sum(_bmm_plan(batch1, batch2), self, beta, alpha)


family(_mm_plan, ["mm"], out=["mm.out"])
family(_addmm_plan, ["addmm"], ["addmm_"], ["addmm.out"])
family(_bmm_plan, ["bmm"], out=["bmm.out"])
family(_baddbmm_plan, ["baddbmm"], ["baddbmm_"], ["baddbmm.out"])
