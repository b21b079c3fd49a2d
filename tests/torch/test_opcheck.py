"""torch.library.opcheck on every torch.ops.halkit operator: schema, autograd registration,
fake kernel, and AOT dispatch (compile) agreement, on contiguous, non-contiguous and
requires_grad samples."""
import pytest
import torch

import halkit.torch.ops

ops = torch.ops.halkit


def randn(*shape, grad=False, layout="contiguous"):
    """A float32 tensor of ``shape``, laid out contiguously, transposed or strided (non-contiguous).

    A 1-D tensor has no transposed layout: it gets the strided one.
    """
    if layout == "transposed" and len(shape) == 1:
        layout = "strided"
    if layout == "contiguous":
        t = torch.randn(*shape)
    elif layout == "transposed":
        t = torch.randn(*reversed(shape)).permute(*reversed(range(len(shape))))
    else:  # every other element of a wider last axis
        t = torch.randn(*shape[:-1], 2 * shape[-1])[..., ::2]
    assert t.shape == shape and (layout == "contiguous") == t.is_contiguous()
    return t.requires_grad_(grad)


LAYOUTS = ["contiguous", "transposed", "strided"]


def samples():
    for layout in LAYOUTS:
        for grad in (False, True):
            r = lambda *shape: randn(*shape, grad=grad, layout=layout)  # noqa: E731
            tag = f"{layout}-{'grad' if grad else 'nograd'}"
            for activation in (None, "relu", "gelu"):
                yield f"linear-{activation}-{tag}", ops.linear, (r(5, 8), r(4, 8), r(4), activation)
            yield f"linear-3d-nobias-{tag}", ops.linear, (r(2, 3, 8), r(4, 8), None, None)
            yield f"matmul-{tag}", ops.matmul, (r(5, 8), r(8, 3))
            yield f"matmul-trans-{tag}", ops.matmul, (r(8, 5), r(3, 8), True, True)
            yield f"relu-{tag}", ops.relu, (r(4, 6),)
            yield f"gelu-{tag}", ops.gelu, (r(4, 6),)
            yield f"softmax-{tag}", ops.softmax, (r(4, 6), 0)
            yield f"add-{tag}", ops.add, (r(4, 6), r(4, 6))
            yield f"mul-{tag}", ops.mul, (r(4, 6), r(4, 6))
            yield f"add_bias-{tag}", ops.add_bias, (r(3, 4, 6), r(6))
            yield f"sum_rows-{tag}", ops.sum_rows, (r(3, 4, 6),)
            yield f"layer_norm-{tag}", ops.layer_norm, (r(3, 4, 6), r(6), r(6), 1e-5)
            yield f"layer_norm-plain-{tag}", ops.layer_norm, (r(3, 6), None, None, 1e-3)
            yield f"conv2d-{tag}", ops.conv2d, (r(2, 3, 7, 6), r(4, 3, 3, 2), r(4), [2, 1], [1, 0], [1, 2], 1, None)
            yield f"conv2d-relu-{tag}", ops.conv2d, (r(1, 2, 5, 5), r(3, 2, 3, 3), None, [1, 1], [1, 1], [1, 1], 1, "relu")
            # backward pieces with a derivative of their own (second derivatives)
            yield f"relu_backward-{tag}", ops.relu_backward, (r(4, 6), r(4, 6))
            yield f"gelu_backward-{tag}", ops.gelu_backward, (r(4, 6), r(4, 6))
            yield f"conv2d_input_grad-{tag}", ops.conv2d_input_grad, (
                r(2, 4, 4, 4), r(4, 3, 3, 2), [2, 3, 7, 6], [2, 1], [1, 0], [1, 2])
            yield f"conv2d_weight_grad-{tag}", ops.conv2d_weight_grad, (
                r(2, 4, 4, 4), r(2, 3, 7, 6), [3, 2], [2, 1], [1, 0], [1, 2])
            if not grad:  # backward pieces whose second derivative is a clear error
                yield f"layer_norm_backward-{tag}", ops.layer_norm_backward, (r(3, 6), r(3, 6), r(6), 1e-5)
            # The ops below take no GEMM operands: a contiguous layout (with and without grad) and one
            # non-contiguous one cover their registration; their numerics are tested op by op elsewhere.
            if layout == "contiguous" or (layout == "strided" and not grad):
                yield from _model_op_samples(r, grad, tag)


def _model_op_samples(r, grad, tag):
    """The ops real models need (issue 13): pooling, batch norm, attention's bmm, embeddings, activations."""
    for name in ("tanh", "sigmoid", "silu", "hardswish"):
        yield f"{name}-{tag}", getattr(ops, name), (r(4, 6),)
    yield f"div-{tag}", ops.div, (r(4, 6), r(4, 6).detach().abs().add(0.5).requires_grad_(grad))
    yield f"bmm-{tag}", ops.bmm, (r(3, 4, 5), r(3, 5, 2))
    yield f"bmm-trans-{tag}", ops.bmm, (r(3, 5, 4), r(3, 2, 5), True, True)
    yield f"sum-{tag}", ops.sum, (r(2, 3, 4), [0, 2], False)
    yield f"mean-{tag}", ops.mean, (r(2, 3, 4), [-1], True)
    yield f"mean-all-{tag}", ops.mean, (r(2, 3, 4), None, False)
    yield f"max_pool2d-{tag}", ops.max_pool2d, (r(2, 3, 7, 7), [3, 3], [2, 2], [1, 1], [1, 1], True)
    yield f"avg_pool2d-{tag}", ops.avg_pool2d, (r(2, 3, 7, 7), [3, 3], [], [1, 1], False, False)
    yield f"adaptive_avg_pool2d-{tag}", ops.adaptive_avg_pool2d, (r(2, 3, 7, 5), [2, 3])
    yield f"cat-{tag}", ops.cat, ([r(2, 3), r(2, 5)], 1)
    yield f"embedding-{tag}", ops.embedding, (r(10, 4), torch.tensor([[1, 2, 2], [9, 0, 1]]))
    yield f"softmax_backward-{tag}", ops.softmax_backward, (r(3, 5), torch.softmax(r(3, 5).detach(), -1), -1)
    yield f"tanh_backward-{tag}", ops.tanh_backward, (r(3, 5), r(3, 5))
    yield f"sigmoid_backward-{tag}", ops.sigmoid_backward, (r(3, 5), r(3, 5))
    yield f"embedding_backward-{tag}", ops.embedding_backward, (r(2, 3, 4), torch.tensor([[1, 2, 2], [9, 0, 1]]), 10)
    var = torch.rand(3) + 0.5
    yield f"batch_norm-{tag}", ops.batch_norm, (r(2, 3, 4, 4), torch.randn(3), var, r(3), r(3), 1e-5)
    if not grad:  # no second derivative of their own: first order only
        x = r(2, 3, 5, 5)
        yield f"batch_norm_stats-{tag}", ops.batch_norm_stats, (x,)
        yield f"batch_norm_backward-{tag}", ops.batch_norm_backward, (r(2, 3, 5, 5), x, torch.randn(3), var, r(3), 1e-5)
        yield f"silu_backward-{tag}", ops.silu_backward, (r(3, 5), r(3, 5))
        yield f"hardswish_backward-{tag}", ops.hardswish_backward, (r(3, 5), r(3, 5))
        yield f"max_pool2d_backward-{tag}", ops.max_pool2d_backward, (
            r(2, 3, 4, 4), r(2, 3, 7, 7), [3, 3], [2, 2], [1, 1], [1, 1], True)
        yield f"avg_pool2d_backward-{tag}", ops.avg_pool2d_backward, (
            r(2, 3, 3, 3), r(2, 3, 7, 7), [3, 3], [], [1, 1], False, False)
        yield f"adaptive_avg_pool2d_backward-{tag}", ops.adaptive_avg_pool2d_backward, (
            r(2, 3, 2, 3), r(2, 3, 7, 5), [2, 3])


SAMPLES = list(samples())


@pytest.mark.parametrize("op, args", [s[1:] for s in SAMPLES], ids=[s[0] for s in SAMPLES])
def test_opcheck(op, args):
    torch.library.opcheck(op, args)


def test_every_operator_is_checked():
    checked = {op._qualified_op_name.split("::")[1] for _, op, _ in SAMPLES}
    assert checked == set(halkit.torch.ops.REGISTERED)
