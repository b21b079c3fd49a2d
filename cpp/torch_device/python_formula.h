// What halkit's C++ autograd nodes share to hold Python objects and call Python formulas from the autograd
// engine (autograd_node.cpp for the eager ops, eager_linear.cpp for a second derivative of HALLinear's route).
#pragma once

#include <torch/csrc/Exceptions.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/csrc/utils/pybind.h>

#include <initializer_list>
#include <utility>

namespace at::functorch {
// Declared in ATen/functorch/DynamicLayer.h, whose includes need headers torch's wheel does not ship.
TORCH_API Tensor unwrapIfDead(const Tensor& tensor);
}  // namespace at::functorch

namespace halkit_torch {

namespace py = pybind11;
using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

// A node's destructor drops its Python references with the GIL (the engine may free a graph on a thread
// without it), or leaks them once the interpreter is gone (exit), as torch's PyNode does.
inline void drop_python_references(std::initializer_list<py::object*> objects) {
  if (!Py_IsInitialized()) {
    for (auto* o : objects) o->release();
    return;
  }
  py::gil_scoped_acquire gil;
  for (auto* o : objects) *o = py::object();
}

// ctx.needs_input_grad of a Function: one bool per input edge of `node`.
inline py::tuple needs_input_grad(const Node& node) {
  py::tuple needs(node.num_outputs());
  for (size_t i = 0; i < node.num_outputs(); ++i) needs[i] = py::bool_(node.should_compute_output(i));
  return needs;
}

// formula(args...) from a node's apply (GIL held): an exception it raises reaches the Python caller of
// backward as itself, as from torch's PyNode.
template <class... Args>
py::object call_formula(const py::object& formula, Args&&... args) {
  try {
    return formula(std::forward<Args>(args)...);
  } catch (py::error_already_set& e) {
    e.restore();
    python_error error;
    error.persist();
    throw std::move(error);
  }
}

}  // namespace halkit_torch
