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
