"""Every op of the op set written with torch (float64): the judge of the numpy reference.

``torch_twin(op, inputs, params)`` takes the op's inputs (NumPy, declared order) and its complete params
and returns torch's answer as a tuple of float64 NumPy arrays. Forward ops call the corresponding torch
function; the backward ops differentiate the forward op with torch.autograd, except tanh/sigmoid/softmax
backward, whose op-set form takes the OUTPUT y — those call the aten kernels autograd itself uses
(``tanh_backward``, ``sigmoid_backward``, ``_softmax_backward_data``). The random ops have no torch twin
(torch has no CPU Philox stream that matches NumPy's); they are tested on their own.
"""
import numpy as np
import torch
import torch.nn.functional as F

from halkit.cts import samples, tolerance

aten = torch.ops.aten


_FLOAT = {"dtype": np.float64}  # what torch computes in (float64, or the op's own dtype for overflow cases)


def t(x, grad=False):
    if x is None:
        return None
    if isinstance(x, list):
        return [t(v) for v in x]
    tensor = torch.from_numpy(np.array(x, dtype=_FLOAT["dtype"] if x.dtype.kind == "f" else x.dtype))
    return tensor.requires_grad_() if grad else tensor


def _grads(forward, grad, *wrt):
    """d(forward(*wrt))/d(wrt) applied to ``grad`` (one gradient per differentiated input)."""
    leaves = [t(w, grad=True) for w in wrt]
    out = forward(*leaves)
    return tuple(torch.autograd.grad(out, leaves, t(grad), allow_unused=True))


def _gemm(a, b, bias, trans_a, trans_b, activation):
    y = (t(a).T if trans_a else t(a)) @ (t(b).T if trans_b else t(b))
    y = y if bias is None else y + t(bias)
    return {None: y, "relu": torch.relu(y), "gelu": F.gelu(y)}[activation]


def _conv(params):
    return {k: params[k] for k in ("stride", "padding", "dilation", "groups")}


def _pool(params, avg=False):
    keep = ("kernel_size", "stride", "padding", "ceil_mode") + (("count_include_pad",) if avg else ("dilation",))
    p = {k: params[k] for k in keep}
    p["stride"] = p["stride"] if p["stride"] is not None else p["kernel_size"]
    return p


def _layer_norm_backward(grad, x, weight, eps):
    d = x.shape[-1]
    w = np.ones(d, x.dtype) if weight is None else weight
    gx, gw, gb = _grads(lambda x, w, b: F.layer_norm(x, (d,), w, b, eps), grad, x, w, np.zeros(d, x.dtype))
    return gx, gw, gb


def _batch_norm_backward(grad, x, mean, var, weight, eps):
    c = x.shape[1]
    w = np.ones(c, x.dtype) if weight is None else weight
    return _grads(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=eps), grad, x, w,
                  np.zeros(c, x.dtype))


def _reduce(fn):
    def twin(x, axes, keepdims):
        dims = tuple(range(x.ndim)) if axes is None else (axes,) if isinstance(axes, int) else tuple(axes)
        return fn(t(x), dim=dims, keepdim=keepdims)
    return twin


TWINS = {
    "gemm": _gemm,
    "bmm": lambda a, b, trans_a, trans_b: torch.bmm(t(a).transpose(1, 2) if trans_a else t(a),
                                                    t(b).transpose(1, 2) if trans_b else t(b)),
    "conv2d": lambda x, w, bias, **p: F.conv2d(t(x), t(w), t(bias), **_conv(p)),
    "conv2d_input_grad": lambda grad, w, input_shape, **p: _grads(
        lambda x: F.conv2d(x, t(w), None, **_conv(p)), grad, np.zeros(input_shape, w.dtype)),
    "conv2d_weight_grad": lambda grad, x, kernel_size, **p: _grads(
        lambda w: F.conv2d(t(x), w, None, **_conv(p)), grad,
        np.zeros((grad.shape[1], x.shape[1] // p["groups"], *kernel_size), x.dtype)),
    "relu": lambda x: torch.relu(t(x)), "gelu": lambda x: F.gelu(t(x)), "tanh": lambda x: torch.tanh(t(x)),
    "sigmoid": lambda x: torch.sigmoid(t(x)), "silu": lambda x: F.silu(t(x)),
    "hardswish": lambda x: F.hardswish(t(x)), "sqrt": lambda x: torch.sqrt(t(x)), "exp": lambda x: torch.exp(t(x)),
    "scale": lambda x, alpha, beta: t(x) * alpha + beta,
    "add": lambda a, b, alpha: torch.add(t(a), t(b), alpha=alpha),
    "mul": lambda a, b: t(a) * t(b), "div": lambda a, b: t(a) / t(b),
    "relu_backward": lambda grad, x: _grads(torch.relu, grad, x),
    "gelu_backward": lambda grad, x: _grads(F.gelu, grad, x),
    "silu_backward": lambda grad, x: _grads(F.silu, grad, x),
    "hardswish_backward": lambda grad, x: _grads(F.hardswish, grad, x),
    "tanh_backward": lambda grad, y: aten.tanh_backward(t(grad), t(y)),
    "sigmoid_backward": lambda grad, y: aten.sigmoid_backward(t(grad), t(y)),
    "add_bias": lambda x, b: t(x) + t(b),
    "sum_rows": lambda x: t(x).reshape(int(np.prod(x.shape[:-1])), x.shape[-1]).sum(0),
    "softmax": lambda x: torch.softmax(t(x), -1),
    "softmax_backward": lambda grad, y: aten._softmax_backward_data(t(grad), t(y), -1, t(y).dtype),
    "layer_norm": lambda x, weight, bias, eps: F.layer_norm(t(x), x.shape[-1:], t(weight), t(bias), eps),
    "layer_norm_backward": _layer_norm_backward,
    "sum": _reduce(torch.sum), "mean": _reduce(torch.mean),
    "batch_norm": lambda x, mean, var, weight, bias, eps: F.batch_norm(t(x), t(mean), t(var), t(weight), t(bias),
                                                                       training=False, eps=eps),
    "batch_norm_stats": lambda x: torch.var_mean(t(x), dim=(0, *range(2, x.ndim)), unbiased=False)[::-1],
    "batch_norm_backward": _batch_norm_backward,
    "max_pool2d": lambda x, **p: F.max_pool2d(t(x), **_pool(p)),
    "max_pool2d_backward": lambda grad, x, **p: _grads(lambda x: F.max_pool2d(x, **_pool(p)), grad, x),
    "avg_pool2d": lambda x, **p: F.avg_pool2d(t(x), **_pool(p, avg=True)),
    "avg_pool2d_backward": lambda grad, x, **p: _grads(lambda x: F.avg_pool2d(x, **_pool(p, avg=True)), grad, x),
    "adaptive_avg_pool2d": lambda x, output_size: F.adaptive_avg_pool2d(t(x), output_size),
    "adaptive_avg_pool2d_backward": lambda grad, x, output_size: _grads(
        lambda x: F.adaptive_avg_pool2d(x, output_size), grad, x),
    "embedding": lambda weight, indices: F.embedding(t(indices), t(weight)),
    "embedding_backward": lambda grad, indices, num_weights, padding_idx: _grads(
        lambda w: F.embedding(t(indices), w, None if padding_idx < 0 else padding_idx), grad,
        np.zeros((num_weights, grad.shape[-1]), grad.dtype)),
    "cat": lambda xs, axis: torch.cat(t(xs), axis),
    "copy_strided": lambda x, shape, strides, offset: torch.as_strided(t(x), shape, strides, offset).contiguous(),
    "cast": lambda x, dtype: t(x).to(getattr(torch, dtype)),
    "fill": lambda shape, dtype, value: torch.full(tuple(shape), value, dtype=getattr(torch, dtype)),
}
NO_TWIN = frozenset({"random_normal", "random_uniform"})


def torch_twin(op, inputs, params, dtype=np.float64) -> tuple:
    """torch's answer to ``op(*inputs, **params)`` computed in ``dtype`` (float64: the exact judge; the op's own
    dtype where overflow is the point, e.g. 1e30² in float32): a tuple of NumPy arrays."""
    _FLOAT["dtype"] = dtype
    try:
        out = TWINS[op](*inputs, **params)
    finally:
        _FLOAT["dtype"] = np.float64
    return tuple(o.detach().numpy() for o in (out if isinstance(out, (tuple, list)) else (out,)))


#: inputs where torch's own answer depends on its code path, so it judges nothing there. hardswish_backward at a
#: NaN x: the scalar loop returns grad, the vectorized one NaN (float64 from 16 elements on, float32 from 35).
TORCH_UNDEFINED = {"hardswish_backward": lambda inputs: np.isnan(inputs[1])}


def judge(op, ours: tuple, inputs, params) -> str | None:
    """None when ``ours`` (an op's outputs) is right by torch: within the suite's tolerance of torch in float64;
    or of torch in the inputs' own dtype (where overflow decides, e.g. 1e30² in float32); or, element by element,
    no further from float64 than twice torch's own-dtype kernel (ill-conditioned inputs, e.g. the variance of
    nearly equal values in float32, defeat any float32 kernel). Otherwise what differs."""
    own = next((x.dtype for x in inputs if isinstance(x, np.ndarray) and x.dtype.kind == "f"), np.dtype(np.float64))
    exact, theirs = torch_twin(op, inputs, params), torch_twin(op, inputs, params, own)
    undefined = TORCH_UNDEFINED.get(op, lambda _: False)(inputs)
    length = samples.reduction_length(op, inputs, params)
    problems = []
    for k, (got, want, near) in enumerate(zip(ours, exact, theirs)):
        if np.any(undefined):
            want, near = np.where(undefined, got, want), np.where(undefined, got, near)
        with np.errstate(over="ignore", invalid="ignore"):
            vs_exact = tolerance.mismatch(op, got, want.astype(got.dtype), length, inputs)
            vs_own = vs_exact and tolerance.mismatch(op, got, near.astype(got.dtype), length, inputs)
            if vs_exact and vs_own and not _no_worse_than_torch(op, got, want, near, length, inputs):
                problems.append(f"output {k}: vs torch float64: {vs_exact} / vs torch {own}: {vs_own}")
    return "; ".join(problems) or None


def _no_worse_than_torch(op, got, exact, torch_own, length, inputs) -> bool:
    rtol, atol = tolerance.bounds(op, got.dtype, exact.astype(got.dtype), length, inputs)
    ours, theirs = got.astype(np.float64), torch_own.astype(np.float64)
    same_specials = np.array_equal(np.isnan(ours), np.isnan(exact)) and np.array_equal(
        np.where(np.isinf(exact), ours, 0), np.where(np.isinf(exact), exact, 0))
    finite = np.isfinite(exact)
    close = np.abs(ours - exact)[finite] <= 2 * np.abs(theirs - exact)[finite] + rtol * np.abs(exact[finite]) + atol
    return bool(same_specials and np.all(close))
