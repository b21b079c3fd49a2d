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
            if not grad:  # backward pieces: first-order only, no autograd formula of their own
                yield f"relu_backward-{tag}", ops.relu_backward, (r(4, 6), r(4, 6))
                yield f"gelu_backward-{tag}", ops.gelu_backward, (r(4, 6), r(4, 6))
                yield f"layer_norm_backward-{tag}", ops.layer_norm_backward, (r(3, 6), r(3, 6), r(6), 1e-5)
                yield f"conv2d_input_grad-{tag}", ops.conv2d_input_grad, (
                    r(2, 4, 4, 4), r(4, 3, 3, 2), [2, 3, 7, 6], [2, 1], [1, 0], [1, 2])
                yield f"conv2d_weight_grad-{tag}", ops.conv2d_weight_grad, (
                    r(2, 4, 4, 4), r(2, 3, 7, 6), [3, 2], [2, 1], [1, 0], [1, 2])


SAMPLES = list(samples())


@pytest.mark.parametrize("op, args", [s[1:] for s in SAMPLES], ids=[s[0] for s in SAMPLES])
def test_opcheck(op, args):
    torch.library.opcheck(op, args)


def test_every_operator_is_checked():
    checked = {op._qualified_op_name.split("::")[1] for _, op, _ in SAMPLES}
    assert checked == set(halkit.torch.ops.REGISTERED)
