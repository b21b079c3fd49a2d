"""drop_clones: the copies an inactive dropout leaves in an aot graph go; a clone anyone could observe stays."""
import torch
import torch.nn as nn
from torch.fx.experimental.proxy_tensor import make_fx

import halkit.runtime as rt
from halkit.runtime.clones import drop_clones

from . import models

aten = torch.ops.aten


def _clones(gm) -> int:
    return sum(n.target is aten.clone.default for n in gm.graph.nodes)


def _aten_graph(fn, *inputs):
    return make_fx(fn, tracing_mode="fake")(*inputs)


class Residual(nn.Module):
    """x + dropout(linear(x)), as in a transformer block: nothing saved for backward reads the dropout's result."""

    def __init__(self):
        super().__init__()
        self.inner, self.drop, self.out = nn.Linear(8, 8), nn.Dropout(0.0), nn.Linear(8, 3)

    def forward(self, x):
        return self.out(x + self.drop(self.inner(x)))


def test_inactive_dropout_copies_are_dropped_in_training_and_inference():
    torch.manual_seed(0)
    eager, x = Residual(), torch.randn(5, 8)
    compiled, report = rt.compile(eager, (x,), device="numpy", policy=models.MODELLED)
    models.assert_same(compiled, eager, x)  # the forward and backward graphs: output and gradients as eager's
    assert report.graph("forward").fusions["drop_clones"] == 1, str(report)
    eager.eval()
    with torch.no_grad():
        compiled, report = rt.compile(eager, (x,), device="numpy", policy=models.MODELLED)
        torch.testing.assert_close(compiled(x), eager(x), atol=1e-5, rtol=1e-4)
    assert report.graph("inference").fusions["drop_clones"] == 1, str(report)


def test_a_clone_between_two_ops_goes():
    gm = _aten_graph(lambda x: (x * 2).clone() + 1, torch.randn(3, 4))
    assert drop_clones(gm) == 1 and _clones(gm) == 0
    x = torch.randn(3, 4)
    torch.testing.assert_close(gm(x), x * 2 + 1)


def test_an_output_clone_stays_a_tensor_of_its_own():
    gm = _aten_graph(lambda x: (x.clone(), x.t().clone().t()), torch.randn(3, 4))
    assert drop_clones(gm) == 0 and _clones(gm) == 2
    x = torch.randn(3, 4)
    assert all(out.data_ptr() != x.data_ptr() for out in gm(x))


def test_a_clone_that_changes_the_layout_stays():
    # a clone of a strided slice is dense: the view after it is only valid on the copy
    gm = _aten_graph(lambda x: x[:, ::2].clone().view(-1) + 1, torch.randn(4, 6))
    assert drop_clones(gm) == 0
    x = torch.randn(4, 6)
    torch.testing.assert_close(gm(x), x[:, ::2].reshape(-1) + 1)


def test_graphs_with_a_mutation_are_left_alone():
    def fn(x, buffer):
        buffer.add_(1)
        return x.clone() * buffer

    gm = _aten_graph(fn, torch.randn(3), torch.zeros(3))
    assert drop_clones(gm) == 0 and _clones(gm) == 1
