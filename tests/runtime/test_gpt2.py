"""A real model: transformers' GPT-2 (from a config, random weights) with LEFT padding through
torch.compile(backend="halkit") matches eager — forward, and one training step (issue 14's model test)."""
import copy

import pytest
import torch

import halkit.runtime as rt

from .models import MODELLED

transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2, resid_pdrop=0.0,
                                     embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(config)
    ids = torch.randint(0, 97, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[0, :5] = 0  # the first sequence is left-padded: its first query rows see no key
    return model, ids, mask


def _logits(model, ids, mask):
    return model(input_ids=ids, attention_mask=mask).logits


def test_left_padded_gpt2_forward_matches_eager(gpt2):
    model, ids, mask = gpt2
    model.eval()
    modelled = rt.make_backend("numpy", MODELLED)  # every supported node on the HAL, whatever it measures
    with torch.no_grad():
        expected = _logits(model, ids, mask)
        for backend in ("halkit", modelled):  # as a user writes it (placement measured on this CPU), and all-HAL
            torch._dynamo.reset()
            got = _logits(torch.compile(model, backend=backend), ids, mask)
            assert torch.isfinite(got).all()
            torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert "aten._softmax" in {p.op for g in modelled.report.graphs for p in g.on("hal")}


def test_left_padded_gpt2_training_step_matches_eager(gpt2):
    model, ids, mask = gpt2
    eager = copy.deepcopy(model).train()
    trained = copy.deepcopy(model).train()
    backend = rt.make_backend("numpy", MODELLED)
    compiled = torch.compile(trained, backend=backend)
    for net, params in ((eager, eager), (compiled, trained)):
        optimizer = torch.optim.SGD(params.parameters(), lr=0.1)
        logits = _logits(net, ids, mask)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 97), ids[:, 1:].reshape(-1))
        loss.backward()
        net.loss = loss.detach()
        net.grads = {n: p.grad.clone() for n, p in params.named_parameters()}
        optimizer.step()
    torch.testing.assert_close(compiled.loss, eager.loss, atol=1e-5, rtol=1e-5)
    for name, grad in eager.grads.items():
        assert torch.isfinite(compiled.grads[name]).all(), name
        torch.testing.assert_close(compiled.grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)
    with torch.no_grad():  # the step used those gradients: the next forward agrees too
        torch.testing.assert_close(_logits(compiled, ids, mask), _logits(eager, ids, mask), atol=1e-4, rtol=1e-4)
    backward = backend.report.graph("backward")
    assert "aten._softmax_backward_data" in {p.op for p in backward.on("hal")}
