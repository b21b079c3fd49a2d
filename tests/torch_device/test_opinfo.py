"""PyTorch's own OpInfo sample inputs for every op the halkit device runs: halkit vs cpu, forward and backward.

For each OpInfo entry below (the aten ops with halkit kernels, the view ops of the C++ half, and the copies
behind clone/contiguous), the first samples in float32 run on the CPU and on ``halkit`` (the mock
accelerator, the default device); outputs and the gradients of every input must match. Each entry must
also run at least one sample entirely on the device — no host fallback — so a kernel that always hands
its work to the CPU cannot pass as implemented.
"""
import functools

import pytest
import torch
from torch.utils._pytree import tree_flatten, tree_map_only

import halkit.hal as hal

SAMPLES = 6  # per op: CI time stays small, the samples still cover broadcasting, scalars and layouts
TOLERANCE = dict(rtol=1e-4, atol=1e-5)  # float32; the device's GEMMs may sum in another order

OPS = [
    # arithmetic and activations (halkit kernels)
    ("add", ""), ("sub", ""), ("mul", ""), ("div", "no_rounding_mode"), ("neg", ""), ("pow", ""), ("sqrt", ""),
    ("exp", ""), ("tanh", ""), ("sigmoid", ""), ("reciprocal", ""), ("nn.functional.relu", ""),
    ("nn.functional.gelu", ""), ("nn.functional.silu", ""), ("nn.functional.hardswish", ""),
    ("nn.functional.threshold", ""), ("lerp", ""), ("addcmul", ""), ("addcdiv", ""),
    # products, reductions, normalisation, convolution, loss
    ("mm", ""), ("addmm", ""), ("bmm", ""), ("baddbmm", ""), ("matmul", ""), ("nn.functional.linear", ""),
    ("sum", ""), ("mean", ""), ("softmax", ""), ("_softmax_backward_data", ""), ("nn.functional.layer_norm", ""),
    ("native_layer_norm", ""), ("nn.functional.conv2d", ""), ("nn.functional.mse_loss", ""), ("cat", ""),
    ("stack", ""),
    # factories and copies
    ("fill", ""), ("zero_", ""), ("clone", ""), ("contiguous", ""),
    # views (the C++ half: as_strided / view / _reshape_alias over the same storage)
    ("view", ""), ("reshape", ""), ("t", ""), ("transpose", ""), ("permute", ""), ("expand", ""), ("narrow", ""),
    ("select", ""), ("unsqueeze", ""), ("squeeze", ""), ("as_strided", ""),
]


# Entries whose OpInfo samples are mostly outside what the HAL expresses: checked for correctness like the
# others (their cases run on the host, counted), but not required to run a sample on the device.
HOST_SAMPLES = {
    "pow": "its samples raise to tensor exponents; the HAL has no log/pow (x**2, x**1, x**0.5 run on the device)",
    "nn.functional.threshold": "its samples use thresholds other than 0; the HAL has no select (threshold 0, "
                               "value 0 is relu and runs on the device)",
}


@functools.cache
def _opinfos() -> dict:
    from torch.testing._internal.common_methods_invocations import op_db  # slow import: only when these run

    return {(op.name, op.variant_test_name): op for op in op_db}


def _on_device(tree):
    def move(t):
        moved = t.detach().to("halkit")
        return moved.requires_grad_(t.requires_grad) if t.is_floating_point() else moved
    return tree_map_only(torch.Tensor, move, tree)


def _tensors(tree):
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _samples(op, requires_grad: bool):
    return list(op.sample_inputs("cpu", torch.float32, requires_grad=requires_grad))[:SAMPLES]


def _assert_same(got, expected):
    got, expected = _tensors(got), _tensors(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.device.type == "halkit"
        torch.testing.assert_close(g.cpu(), e, **TOLERANCE)


@pytest.mark.parametrize("name,variant", OPS, ids=[f"{n}.{v}" if v else n for n, v in OPS])
def test_forward_matches_cpu(mock, name, variant):
    op = _opinfos()[(name, variant)]
    on_device_only = 0
    for sample in _samples(op, requires_grad=False):
        expected = op(sample.input, *sample.args, **sample.kwargs)
        hal.reset_fallback_counts()
        args = _on_device((sample.input, *sample.args))
        got = op(*args, **_on_device(sample.kwargs))
        on_device_only += not hal.fallback_counts()
        _assert_same(got, expected)
    assert on_device_only or name in HOST_SAMPLES, f"every sample of {name} fell back to the host: {hal.fallback_counts()}"


@pytest.mark.parametrize("name,variant", [o for o in OPS if o[0] not in ("fill", "zero_", "_softmax_backward_data")],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_backward_matches_cpu(mock, name, variant):
    op = _opinfos()[(name, variant)]
    if not op.supports_autograd:
        pytest.fail(f"{name} is listed for backward but its OpInfo has no autograd")
    for sample in _samples(op, requires_grad=True):
        host_inputs = [t for t in _tensors((sample.input, sample.args, sample.kwargs)) if t.requires_grad]
        device_sample = _on_device((sample.input, sample.args, sample.kwargs))
        device_inputs = [t for t in _tensors(device_sample) if t.requires_grad]
        expected_out = [t for t in _tensors(op(sample.input, *sample.args, **sample.kwargs)) if t.requires_grad]
        got_out = [t for t in _tensors(op(device_sample[0], *device_sample[1], **device_sample[2])) if t.requires_grad]
        if not expected_out:
            continue
        grads = [torch.randn_like(t) for t in expected_out]
        expected = torch.autograd.grad(expected_out, host_inputs, grads, allow_unused=True)
        got = torch.autograd.grad(got_out, device_inputs, [g.to("halkit") for g in grads], allow_unused=True)
        for g, e in zip(got, expected):
            assert (g is None) == (e is None)
            if e is not None:
                torch.testing.assert_close(g.cpu(), e, **TOLERANCE)
