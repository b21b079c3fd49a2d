// HALLinear's eager route in C++, for a driver that publishes its kernels as C functions (host_kernels.h).
//
// At batch 1 the Python route into the HAL costs as much as the layer itself: x, the weight and the bias
// become NumPy views, the HAL checks them, the result is wrapped back into a tensor, and the backward
// formula does the same for three more HAL calls. Here one call checks the tensors, runs the driver's GEMM
// on their memory and attaches a C++ node whose backward runs the driver's GEMMs and row sum, with no
// Python at all. Anything else (another dtype, a non-contiguous or empty tensor, a dual tensor) returns
// None and takes the Python route (halkit.torch.functional), which also raises the errors for bad input.
//
// The node saves what torch's own linear saves (x, the weight, and for a fused relu its output, whose
// sign is the mask), as SavedVariables: in-place modification checks, saved-tensor hooks and "backward
// twice" errors behave as for any torch op. When autograd records the backward itself (create_graph=True)
// the node hands over to the Python formula on the registered operators, whose derivatives are defined.
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/csrc/utils/pybind.h>

#include <new>
#include <optional>
#include <string>
#include <utility>

#include "../host_kernels.h"
#include "python_formula.h"

namespace halkit_torch {
namespace {

const HalkitHostKernels& kernels_of(const py::capsule& capsule) {
  if (!PyCapsule_IsValid(capsule.ptr(), HALKIT_HOST_KERNELS_CAPSULE)) {
    const char* name = PyCapsule_GetName(capsule.ptr());
    throw py::value_error(std::string("kernels must be a capsule of the host-kernel ABI '") +
                          HALKIT_HOST_KERNELS_CAPSULE + "' (cpp/host_kernels.h), got one named '" +
                          (name ? name : "") + "': rebuild the driver's extension against this halkit");
  }
  return *static_cast<const HalkitHostKernels*>(PyCapsule_GetPointer(capsule.ptr(), HALKIT_HOST_KERNELS_CAPSULE));
}

void check_status(int status) {
  if (status != 0) throw std::bad_alloc();  // the ABI's only failure; reaches Python as MemoryError
}

// A dense float32 CPU tensor, not empty: what the ABI's kernels take.
bool dense_f32(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat && t.device().is_cpu() && t.layout() == at::kStrided && t.is_contiguous() &&
         t.numel() > 0 && !t._fw_grad(/*level=*/0).defined();
}

// Work below this many multiply-adds keeps the GIL: releasing it costs more than such a GEMM.
constexpr double kReleaseGilMacs = 64.0 * 64 * 64;

class LinearBackward final : public Node {
 public:
  LinearBackward(const HalkitHostKernels& kernels, bool relu, bool has_bias, py::object recorded_backward)
      : kernels_(kernels), relu_(relu), has_bias_(has_bias), recorded_backward_(std::move(recorded_backward)) {}

  ~LinearBackward() override { drop_python_references({&recorded_backward_}); }

  // The name of the Python route's node too: a graph reads the same whichever route built it.
  std::string name() const override { return "LinearFunctionBackward"; }

  void release_variables() override {
    x_.reset_data();
    weight_.reset_data();
    output_.reset_data();
    released_ = true;
  }

  variable_list apply(variable_list&& grads) override {
    TORCH_CHECK(!released_, torch::autograd::ERR_BACKWARD_TWICE);
    const at::Tensor x = x_.unpack(), weight = weight_.unpack();
    const at::Tensor output = relu_ ? output_.unpack(getptr()) : at::Tensor();
    // A sum's backward hands over an expanded (stride-0) gradient; an unused output gets zeros, as a
    // Function's materialized gradients.
    const at::Tensor grad = grads[0].defined() ? grads[0].contiguous() : input_metadata(0).zeros_like();
    if (at::GradMode::is_enabled()) return recorded(x, weight, output, grad);

    const long n = weight.size(0), k = weight.size(1), m = x.numel() / k;
    const float* g = grad.data_ptr<float>();
    at::Tensor masked;
    if (relu_) {  // relu's gradient mask: output > 0 exactly where the pre-activation was
      masked = at::empty_like(grad);
      check_status(kernels_.relu_backward_f32(g, output.data_ptr<float>(), masked.data_ptr<float>(), m * n));
      g = masked.data_ptr<float>();
    }
    variable_list result(3);
    if (should_compute_output(0)) {  // grad_x = g @ W
      result[0] = at::empty(x.sizes(), x.options());
      check_status(kernels_.gemm_f32(g, weight.data_ptr<float>(), nullptr, result[0].data_ptr<float>(), m, k, n, n,
                                     k, k, 0, 0, 0));
    }
    if (should_compute_output(1)) {  // grad_W = gᵀ @ x
      result[1] = at::empty(weight.sizes(), weight.options());
      check_status(kernels_.gemm_f32(g, x.data_ptr<float>(), nullptr, result[1].data_ptr<float>(), n, k, m, n, k, k,
                                     1, 0, 0));
    }
    if (has_bias_ && should_compute_output(2)) {  // grad_b = the rows of g summed
      result[2] = at::empty({n}, weight.options());
      check_status(kernels_.sum_rows_f32(g, m, n, result[2].data_ptr<float>()));
    }
    return result;
  }

  SavedVariable x_, weight_, output_;

 private:
  // The Python formula on torch.ops.halkit, which autograd records for a second derivative.
  variable_list recorded(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& output,
                         const at::Tensor& grad) {
    py::gil_scoped_acquire gil;
    const py::object grads = call_formula(recorded_backward_, x, weight,
                                          output.defined() ? py::cast(output) : py::none(), grad, relu_, has_bias_,
                                          needs_input_grad(*this));
    // The formula's contract (halkit.torch.autograd.linear_backward_recorded): a tensor or None per input.
    const auto tuple = py::reinterpret_borrow<py::tuple>(grads);
    variable_list result(3);
    for (size_t i = 0; i < 3; ++i)
      if (!tuple[i].is_none()) result[i] = THPVariable_Unpack(tuple[i].ptr());
    return result;
  }

  const HalkitHostKernels& kernels_;
  bool relu_, has_bias_;
  py::object recorded_backward_;
  bool released_ = false;
};

// relu(x @ weight.T + bias) (relu optional) on the driver's kernels, with a LinearBackward node when a
// gradient is wanted; None when the tensors are not what the kernels take (the Python route then runs).
py::object linear(const at::Tensor& x_in, const at::Tensor& weight_in, const std::optional<at::Tensor>& bias_in,
                  bool relu, const py::capsule& capsule, const py::object& recorded_backward) {
  const HalkitHostKernels& kernels = kernels_of(capsule);
  // A tensor left over from a finished functorch transform is unwrapped, as Function.apply does.
  const at::Tensor x = at::functorch::unwrapIfDead(x_in), weight = at::functorch::unwrapIfDead(weight_in);
  const at::Tensor bias = bias_in ? at::functorch::unwrapIfDead(*bias_in) : at::Tensor();
  if (!dense_f32(x) || !dense_f32(weight) || x.dim() == 0 || weight.dim() != 2 || x.size(-1) != weight.size(1))
    return py::none();
  const long n = weight.size(0), k = weight.size(1), m = x.numel() / k;
  if (bias.defined() && (!dense_f32(bias) || bias.dim() != 1 || bias.size(0) != n)) return py::none();

  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = n;
  at::Tensor output = at::empty(sizes, x.options());
  {
    std::optional<py::gil_scoped_release> nogil;
    if (double(m) * double(n) * double(k) >= kReleaseGilMacs) nogil.emplace();
    check_status(kernels.gemm_f32(x.data_ptr<float>(), weight.data_ptr<float>(),
                                  bias.defined() ? bias.data_ptr<float>() : nullptr, output.data_ptr<float>(), m, n,
                                  k, k, k, n, 0, 1, relu ? 1 : 0));
  }
  if (torch::autograd::compute_requires_grad(x, weight, bias)) {  // false when grad mode is off
    auto node = c10::make_intrusive<LinearBackward>(kernels, relu, bias.defined(), recorded_backward);
    node->set_next_edges(torch::autograd::collect_next_edges(x, weight, bias));
    torch::autograd::set_history(output, node);
    node->x_ = SavedVariable(x, /*is_output=*/false);
    node->weight_ = SavedVariable(weight, /*is_output=*/false);
    if (relu) node->output_ = SavedVariable(output, /*is_output=*/true);  // its own node: weakly held
  }
  return py::cast(std::move(output));
}

}  // namespace

void bind_eager_linear(py::module_& m) {
  m.def("linear", &linear, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("relu"), py::arg("kernels"),
        py::arg("recorded_backward"),
        "relu?(x @ weight.T + bias) on a driver's host kernels (a host_kernels capsule), differentiable; None when "
        "the tensors are not dense float32 (halkit.torch.functional then takes the Python route).");
}

}  // namespace halkit_torch
