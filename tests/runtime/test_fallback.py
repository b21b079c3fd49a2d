"""Ops the HAL lacks run on the CPU with correct results, and the report says so and why."""
import torch
import torch.nn as nn

import halkit.runtime as rt

from .models import MODELLED


class SortsAndSums(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        return torch.cumsum(torch.sort(h, dim=-1).values, dim=-1)


def test_sort_and_cumsum_fall_back_to_cpu():
    torch.manual_seed(0)
    model, x = SortsAndSums(), torch.randn(3, 6)
    compiled, report = rt.compile(model, (x,), device="numpy", policy=MODELLED)
    torch.testing.assert_close(compiled(x), model(x))
    assert {"aten.sort", "aten.cumsum"} <= report.fallbacks()
    forward = report.graph("forward")
    sort = next(p for p in forward.placements if p.op == "aten.sort")
    assert sort.where == "cpu" and "has no HAL op" in sort.reason
    assert "aten.sort" in str(report) and "cpu" in str(report)


def test_unsupported_dtype_falls_back():
    # float16: no driver declares it (bfloat16 GEMMs run on the HAL: test_compile_models)
    model = nn.Linear(4, 4).to(torch.float16)
    x = torch.randn(2, 4, dtype=torch.float16)
    with torch.no_grad():
        compiled, report = rt.compile(model, (x,), device="numpy", policy=MODELLED)
        torch.testing.assert_close(compiled(x), model(x))
    addmm = next(p for p in report.graph("inference").placements if p.op == "aten.addmm")
    assert addmm.where == "cpu" and "float16" in addmm.reason
