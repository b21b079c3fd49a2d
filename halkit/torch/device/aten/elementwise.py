"""Element-wise ops: arithmetic (with torch's broadcasting and scalar operands), activations, their
gradients, and the fused updates the optimizers call (lerp, addcmul, addcdiv)."""
from __future__ import annotations

from .. import memory
from ..registry import Unsupported
from .common import Plan, computable, family, operands, run, scalar


# --- arithmetic ------------------------------------------------------------------------------------------------

def _scaled(self, alpha: float, beta: float) -> Plan:
    computable(self)
    return Plan("scale", [memory.as_array(self)], dict(alpha=alpha, beta=beta), tuple(self.shape))


def _add_plan(sign: float):
    def plan(self, other, alpha=1):
        step = sign * float(alpha)
        value = scalar(other)
        if value is not None:  # x + alpha·s in one pass
            return _scaled(self, 1.0, step * value)
        (a, b), shape = operands(self, other)
        return Plan("add", [a, b], dict(alpha=step), shape)
    return plan


def _mul_plan(self, other):
    value = scalar(other)
    if value is not None:
        return _scaled(self, value, 0.0)
    (a, b), shape = operands(self, other)
    return Plan("mul", [a, b], {}, shape)


def _div_plan(self, other):
    (a, b), shape = operands(self, other)  # a scalar divisor is filled in: x / s exactly, not x · (1/s)
    return Plan("div", [a, b], {}, shape)


family(_add_plan(1.0), ["add.Tensor", "add.Scalar"], ["add_.Tensor", "add_.Scalar"], ["add.out"])
family(_add_plan(-1.0), ["sub.Tensor", "sub.Scalar"], ["sub_.Tensor", "sub_.Scalar"], ["sub.out"])
family(_mul_plan, ["mul.Tensor", "mul.Scalar"], ["mul_.Tensor", "mul_.Scalar"], ["mul.out"])
family(_div_plan, ["div.Tensor", "div.Scalar"], ["div_.Tensor", "div_.Scalar"], ["div.out"])
family(lambda self: _scaled(self, -1.0, 0.0), ["neg"], ["neg_"], ["neg.out"])


def _pow_plan(self, exponent):
    computable(self)
    exponent = float(exponent)
    x = memory.as_array(self)
    shape = tuple(self.shape)
    if exponent == 2.0:
        return Plan("mul", [x, x], {}, shape)
    if exponent == 1.0:
        return Plan("scale", [x], dict(alpha=1.0, beta=0.0), shape)
    if exponent == 0.5:
        return Plan("sqrt", [x], {}, shape)
    raise Unsupported(f"pow with exponent {exponent}")


family(_pow_plan, ["pow.Tensor_Scalar"], ["pow_.Scalar"], ["pow.Tensor_Scalar_out"])


# --- unary ops and activations ---------------------------------------------------------------------------------

def _unary_plan(op: str):
    def plan(self, approximate="none"):
        if approximate != "none":
            raise Unsupported(f"approximate={approximate!r}")
        computable(self)
        return Plan(op, [memory.as_array(self)], {}, tuple(self.shape))
    return plan


for _name in ("relu", "gelu", "sqrt", "exp", "tanh", "sigmoid", "silu", "hardswish"):
    family(_unary_plan(_name), [_name], [f"{_name}_"], [f"{_name}.out"])


def _reciprocal_plan(self):
    (one, x), shape = operands(1.0, self)
    return Plan("div", [one, x], {}, shape)


family(_reciprocal_plan, ["reciprocal"], ["reciprocal_"], ["reciprocal.out"])


# --- gradients of the activations ------------------------------------------------------------------------------

def _backward_plan(op: str):
    def plan(grad_output, value, approximate="none"):
        if approximate != "none":
            raise Unsupported(f"approximate={approximate!r}")
        (g, x), shape = operands(grad_output, value)
        return Plan(op, [g, x], {}, shape)
    return plan


def _threshold_backward_plan(grad_output, self, threshold):
    if scalar(threshold) != 0.0:  # the HAL's relu_backward is the threshold-0 case (relu's gradient)
        raise Unsupported(f"threshold {threshold}")
    return _backward_plan("relu_backward")(grad_output, self)


def _threshold_plan(self, threshold, value):
    if scalar(threshold) != 0.0 or scalar(value) != 0.0:  # threshold(x, 0, 0) is relu; the HAL has no select
        raise Unsupported(f"threshold {threshold}, value {value}")
    return _unary_plan("relu")(self)


family(_threshold_plan, ["threshold"], ["threshold_"], ["threshold.out"])
family(_threshold_backward_plan, ["threshold_backward"], out=["threshold_backward.grad_input"],
       out_name="grad_input")
for _name in ("gelu_backward", "tanh_backward", "sigmoid_backward", "silu_backward"):
    family(_backward_plan(_name), [_name], out=[f"{_name}.grad_input"], out_name="grad_input")
family(_backward_plan("hardswish_backward"), ["hardswish_backward"], out=["hardswish_backward.out"])


# --- fused updates (the optimizers' element-wise steps) --------------------------------------------------------

def _lerp_plan(self, end, weight):
    """torch's formula, both branches: self + w·(end - self) for |w| < 0.5, else end - (1 - w)·(end - self)."""
    w = scalar(weight)
    if w is None:
        raise Unsupported("tensor weight")
    (a, b), shape = operands(self, end)
    difference = run("add", [b, a], alpha=-1.0)
    if abs(w) < 0.5:
        return Plan("add", [a, difference], dict(alpha=w), shape)
    return Plan("add", [b, difference], dict(alpha=w - 1.0), shape)


def _addc_plan(op: str):
    def plan(self, tensor1, tensor2, value=1):
        (x, t1, t2), shape = operands(self, tensor1, tensor2)
        return Plan("add", [x, run(op, [t1, t2])], dict(alpha=float(value)), shape)
    return plan


family(_lerp_plan, ["lerp.Scalar"], ["lerp_.Scalar"], ["lerp.Scalar_out"])
family(_addc_plan("mul"), ["addcmul"], ["addcmul_"], ["addcmul.out"])
family(_addc_plan("div"), ["addcdiv"], ["addcdiv_"], ["addcdiv.out"])
