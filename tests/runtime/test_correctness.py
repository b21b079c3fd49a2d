"""Wrong results the hardening pass (issue 14) found in compiled graphs, each pinned by a case that failed before."""
import torch
import torch.nn.functional as F

import halkit.runtime as rt

from .models import MODELLED


def _compiled(fn, *inputs, device="numpy"):
    compiled, report = rt.compile(fn, inputs, device=device, policy=MODELLED)
    return compiled, report


def test_attention_with_fully_masked_rows_matches_torch():
    """Issue 14 item 1: a query row whose keys are all masked is 0 (torch), not NaN — forward and gradients."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 3, 4, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[0, 0, 0], [1, 1, 0], [1, 1, 1]]).bool()

    def attention(q, k, v, m):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m)

    compiled, report = _compiled(attention, q, k, v, mask)
    got, expected = compiled(q, k, v, mask), attention(q, k, v, mask)
    torch.testing.assert_close(got, expected)
    assert torch.equal(got[..., 0, :], torch.zeros_like(got[..., 0, :]))
    weights = torch.randn_like(expected)
    grads = torch.autograd.grad((got * weights).sum(), (q, k, v))
    for g, e in zip(grads, torch.autograd.grad((expected * weights).sum(), (q, k, v))):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, e)
    assert "aten._softmax" in {p.op for p in report.graph("forward").on("hal")}


def test_additive_mask_with_a_fully_masked_row_and_causal_attention():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 4, 8) for _ in range(3))
    bias = torch.zeros(4, 4)
    bias[1] = float("-inf")  # row 1 sees no key
    bias[2, :2] = float("-inf")
    for kwargs in ({"attn_mask": bias}, {"is_causal": True}):
        torch._dynamo.reset()
        compiled, _ = _compiled(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs), q, k, v)
        torch.testing.assert_close(compiled(q, k, v), F.scaled_dot_product_attention(q, k, v, **kwargs))


def test_a_reduction_to_another_dtype():
    """Issue 14 item 5: sum(dtype=float64) of float32 values is float64 and computed in float64."""
    x = torch.randn(64, 3) * 1e4
    fn = lambda x: torch.relu(x).sum(dim=0, dtype=torch.float64)  # noqa: E731
    compiled, report = _compiled(fn, x)
    got = compiled(x)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, fn(x))
    assert {p.where for p in report.graph("inference").placements if p.op == "aten.sum"} != {"cpu"}


def test_mixed_dtype_arithmetic_promotes_like_torch():
    """Issue 14 item 5: relu(x32) + b64 is float64 (type promotion), not a TypeError at run time."""
    x, b = torch.randn(4, 5), torch.randn(4, 5, dtype=torch.float64)
    fn = lambda x, b: torch.relu(x) + b  # noqa: E731
    compiled, report = _compiled(fn, x, b)
    got = compiled(x, b)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, fn(x, b))
    assert {p.where for p in report.graph("inference").placements if p.op == "aten.add"} != {"cpu"}


def test_relu_gradient_at_nan_is_the_incoming_gradient():
    """Issue 14 item 6: threshold_backward semantics — NaN input keeps the gradient (torch), it is not zeroed."""
    x = torch.tensor([float("nan"), -1.0, 0.0, 2.0], requires_grad=True)
    upstream = torch.tensor([1.0, 2.0, 3.0, 4.0])
    compiled, report = _compiled(lambda x: torch.relu(x) * 1.0, x)
    (grad,) = torch.autograd.grad(compiled(x), x, upstream)
    (expected,) = torch.autograd.grad(torch.relu(x) * 1.0, x, upstream)
    torch.testing.assert_close(grad, expected, equal_nan=True)
    assert grad[0] == 1.0
    assert {p.where for p in report.graph("backward").placements if p.op == "aten.threshold_backward"} != {"cpu"}


def test_adding_two_scalar_losses():
    """Issue 14 item 7: a compiled graph adding two 0-D losses, forward and backward."""
    torch.manual_seed(0)
    a, b = torch.randn(8, requires_grad=True), torch.randn(8, requires_grad=True)
    fn = lambda a, b: a.square().mean() + b.square().mean() * 1.0  # noqa: E731
    compiled, report = _compiled(fn, a, b)
    got = compiled(a, b)
    assert got.shape == ()
    torch.testing.assert_close(got, fn(a, b))
    got.backward()
    torch.testing.assert_close(a.grad, 2 * a.detach() / 8)
    assert "aten.add" in {p.op for p in report.graph("forward").on("hal")}
