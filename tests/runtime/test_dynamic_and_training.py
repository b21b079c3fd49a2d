"""Two batch sizes give right answers; a training loop on the compiled model tracks eager's loss."""
import copy

import torch
import torch.nn as nn

import halkit.runtime as rt

from . import models


def test_two_batch_sizes():
    torch.manual_seed(0)
    model = models.mlp()
    compiled, report = rt.compile(model, (torch.randn(4, 8),), device="numpy", policy=models.MODELLED)
    for batch in (4, 7, 13):
        x = torch.randn(batch, 8)
        models.assert_same(compiled, model, x)
    assert len([g for g in report.graphs if g.kind == "forward"]) >= 2  # a recompile for the new size


def test_training_loop_tracks_eager():
    torch.manual_seed(0)
    eager = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 1))
    model = copy.deepcopy(eager)
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    compiled, _ = rt.compile(model, (x,), device="numpy", policy=models.MODELLED)
    losses = {}
    for name, net, params in (("eager", eager, eager.parameters()), ("compiled", compiled, model.parameters())):
        opt = torch.optim.SGD(params, lr=0.05)
        losses[name] = []
        for _ in range(15):
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            losses[name].append(loss.item())
    torch.testing.assert_close(losses["compiled"], losses["eager"], atol=1e-5, rtol=1e-4)
    assert losses["compiled"][-1] < losses["compiled"][0]


def test_torch_compile_backend_name_works_after_import():
    torch.manual_seed(0)
    model = models.mlp()
    compiled = torch.compile(model, backend="halkit")
    x = torch.randn(3, 8)
    models.assert_same(compiled, model, x)
    forward = rt.last_report().graph("forward")  # the default policy on a host-memory driver: measured placement
    addmm = [p for p in forward.placements if p.op == "aten.addmm"]
    assert len(addmm) == 3 and all("measured" in p.reason for p in addmm), str(forward)


def test_embedding_with_a_padding_row_trains_on_the_hal():
    """BERT's word embeddings have padding_idx=0: their gradient (aten.embedding_dense_backward with a padding_idx)
    runs on the HAL, the padding row's gradient stays zero, and every gradient matches eager."""
    torch.manual_seed(0)
    eager = nn.Sequential(nn.Embedding(11, 6, padding_idx=0), nn.Linear(6, 3))
    model = copy.deepcopy(eager)
    ids = torch.tensor([[0, 3, 3, 10], [5, 0, 1, 3]])  # the padding index twice, repeated rows
    compiled, report = rt.compile(model, (ids,), device="numpy", policy=models.MODELLED)
    for net in (compiled, eager):
        (net(ids) * torch.linspace(-1, 1, 24).reshape(2, 4, 3)).sum().backward()
    backward = [p for p in report.graph("backward").placements if p.op == "aten.embedding_dense_backward"]
    assert backward and all(p.where != "cpu" for p in backward), str(report.graph("backward"))
    assert not model[0].weight.grad[0].any()
    for a, b in zip(model.parameters(), eager.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5)
