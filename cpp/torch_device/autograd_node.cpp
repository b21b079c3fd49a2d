// The autograd node of halkit's eager differentiable ops (HALLinear, HALConv2d, HALLayerNorm).
//
// A Python torch.autograd.Function costs more than nn.Linear's whole forward at batch 1: torch
// builds a Python context object, calls a Python forward through it, wraps the outputs and, in
// backward, calls Python twice more before the user's formula. Here the forward runs in Python
// without any of that (the HAL kernel, then the formula's setup_context on a plain object), and
// this node is attached to its result the way torch's generated code attaches its own nodes:
// next edges from the inputs, saved tensors as SavedVariables (in-place modification checks,
// saved-tensor hooks, "backward twice" errors and release after backward behave as for any torch
// op), the output's gradient edge. Its backward calls the Python formula once:
// backward(ctx, grad) with ctx.saved_tensors and ctx.needs_input_grad set, as a Function's ctx.
//
// Not supported: forward-mode AD (a clear error, as from the Python Function), and compiled autograd
// (torch._dynamo.compiled_autograd: torch's "compiled_args not implemented" error, where the Python
// Function would run as an opaque call; halkit itself never enables it).
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/csrc/utils/pybind.h>

#include <string>
#include <utility>
#include <vector>

#include "python_formula.h"

namespace halkit_torch {
namespace {

class PythonFormulaBackward final : public Node {
 public:
  PythonFormulaBackward(std::string name, py::object ctx, py::object backward)
      : name_(std::move(name)), ctx_(std::move(ctx)), backward_(std::move(backward)) {}

  ~PythonFormulaBackward() override { drop_python_references({&ctx_, &backward_}); }

  std::string name() const override { return name_; }

  void release_variables() override {
    saved_.clear();
    released_ = true;
  }

  variable_list apply(variable_list&& grads) override {
    TORCH_CHECK(!released_, torch::autograd::ERR_BACKWARD_TWICE);
    // Unpacked before taking the GIL: unpack checks the version counters (in-place modification errors).
    std::vector<at::Tensor> saved;
    saved.reserve(saved_.size());
    for (const auto& s : saved_) saved.push_back(s.unpack(getptr()));
    // An unused output gets a zero gradient, as a Function's ctx.set_materialize_grads(True) (the default).
    // The formula gets a dense one: a sum's backward hands over an expanded (stride-0) tensor, which the
    // HAL would otherwise copy once per op, in Python.
    at::Tensor grad = grads[0].defined() ? grads[0].contiguous() : input_metadata(0).zeros_like();

    py::gil_scoped_acquire gil;
    py::tuple saved_tensors(saved.size());
    for (size_t i = 0; i < saved.size(); ++i) saved_tensors[i] = saved[i].defined() ? py::cast(saved[i]) : py::none();
    ctx_.attr("saved_tensors") = saved_tensors;
    ctx_.attr("needs_input_grad") = needs_input_grad(*this);
    py::object result;
    try {
      result = call_formula(backward_, ctx_, grad);
    } catch (...) {
      ctx_.attr("saved_tensors") = py::none();
      throw;
    }
    ctx_.attr("saved_tensors") = py::none();  // the ctx outlives this call: it must not keep tensors alive
    return unpack_gradients(result);
  }

  std::vector<SavedVariable> saved_;

 private:
  // One gradient per input edge, then the formula's Nones for its non-tensor arguments.
  variable_list unpack_gradients(const py::object& result) const {
    TORCH_CHECK(py::isinstance<py::tuple>(result), name_, ": the backward formula must return a tuple");
    auto grads = py::reinterpret_borrow<py::tuple>(result);
    TORCH_CHECK(grads.size() >= num_outputs(), name_, ": the backward formula returned ", grads.size(),
                " gradients for ", num_outputs(), " tensor inputs");
    variable_list out(num_outputs());
    for (size_t i = 0; i < grads.size(); ++i) {
      PyObject* item = grads[i].ptr();
      if (item == Py_None) continue;
      TORCH_CHECK(i < num_outputs(), name_, ": the backward formula returned a gradient for non-tensor argument ",
                  i);
      TORCH_CHECK(THPVariable_Check(item), name_, ": gradient ", i, " is a ", Py_TYPE(item)->tp_name,
                  ", not a tensor");
      out[i] = THPVariable_Unpack(item);
    }
    return out;
  }

  std::string name_;
  py::object ctx_;
  py::object backward_;
  bool released_ = false;
};

// Make `output` (a fresh tensor, no history) the result of a PythonFormulaBackward node over `inputs`
// (tensors or None, one gradient edge each), saving `saved` (inputs, None or `output` itself).
at::Tensor attach_backward(const std::string& name, at::Tensor output, const py::tuple& inputs,
                           const py::tuple& saved, py::object ctx, py::object backward) {
  std::vector<at::Tensor> tensors;
  tensors.reserve(inputs.size());
  for (const auto& item : inputs) {
    if (item.is_none()) tensors.emplace_back();
    // A tensor left over from a finished functorch transform is unwrapped, as Function.apply does.
    else if (THPVariable_Check(item.ptr())) tensors.push_back(at::functorch::unwrapIfDead(THPVariable_Unpack(item.ptr())));
    else throw py::type_error(name + ": inputs must be tensors or None");
  }
  if (!torch::autograd::compute_requires_grad(tensors)) return output;  // also when grad mode is off
  for (const auto& t : tensors)
    TORCH_CHECK(!t.defined() || !t._fw_grad(/*level=*/0).defined(), name,
                ": halkit's eager ops have no forward-mode derivative (a dual tensor reached it); use the torch "
                "layer for forward-mode AD");
  TORCH_CHECK(output.is_leaf() && !output.requires_grad(), name, ": the output must be a fresh result");
  auto node = c10::make_intrusive<PythonFormulaBackward>(name, std::move(ctx), std::move(backward));
  node->set_next_edges(torch::autograd::collect_next_edges(tensors));
  torch::autograd::set_history(output, node);
  node->saved_.reserve(saved.size());
  for (const auto& item : saved) {
    if (item.is_none()) {
      node->saved_.emplace_back();
      continue;
    }
    TORCH_CHECK(THPVariable_Check(item.ptr()), name, ": saved values must be tensors or None");
    at::Tensor t = at::functorch::unwrapIfDead(THPVariable_Unpack(item.ptr()));
    node->saved_.emplace_back(t, /*is_output=*/t.is_same(output));  // the output's own node is weakly held
  }
  return output;
}

}  // namespace

void bind_autograd_node(py::module_& m) {
  m.def("attach_backward", &attach_backward, py::arg("name"), py::arg("output"), py::arg("inputs"),
        py::arg("saved"), py::arg("ctx"), py::arg("backward"),
        "Attach a C++ autograd node to `output` whose backward calls backward(ctx, grad) (halkit.torch.autograd).");
}

}  // namespace halkit_torch
