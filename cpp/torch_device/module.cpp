// halkit.torch.device._C: the Python face of the C++ half of the torch device "halkit".
#include "device_memory.h"

#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <torch/csrc/utils/pybind.h>

namespace py = pybind11;

namespace halkit_torch {
void register_device_runtime();
void bind_autograd_node(py::module_& m);  // autograd_node.cpp
void bind_eager_linear(py::module_& m);  // eager_linear.cpp
}

namespace {

// A halkit tensor over device memory that Python already holds (a HAL op's result): no allocation.
at::Tensor wrap(py::object owner, size_t nbytes, std::vector<int64_t> sizes, std::vector<int64_t> strides,
                int64_t storage_offset, at::ScalarType dtype) {
  c10::Storage storage = halkit_torch::storage_for(owner, nbytes, 0);
  auto tensor = at::detail::make_tensor<c10::TensorImpl>(std::move(storage),
                                                         c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                                         c10::scalarTypeToTypeMeta(dtype));
  tensor.unsafeGetTensorImpl()->set_sizes_and_strides(sizes, strides, storage_offset);
  return tensor;
}

py::object owner(const at::Tensor& tensor) {
  TORCH_CHECK(tensor.device().is_privateuseone(), "owner() takes a halkit tensor, got one on ", tensor.device());
  return halkit_torch::owner_of(tensor.storage());
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "C++ half of the torch device 'halkit': allocator, device guard, hooks, generator, view ops, CPU fallback";
  m.def("install", [](py::object allocate, py::object copy_bytes, py::object on_fallback, py::object synchronize) {
    auto& cb = halkit_torch::callbacks();
    cb.allocate = std::move(allocate);
    cb.copy_bytes = std::move(copy_bytes);
    cb.on_fallback = std::move(on_fallback);
    cb.synchronize = std::move(synchronize);
    halkit_torch::register_device_runtime();
  }, "Register the allocator and hooks with torch and the Python callables they call.");
  m.def("wrap", &wrap, py::arg("owner"), py::arg("nbytes"), py::arg("sizes"), py::arg("strides"),
        py::arg("storage_offset"), py::arg("dtype"));
  m.def("owner", &owner, "The Python object holding a halkit tensor's device memory (None when empty).");
  m.def("bytes_in_use", &halkit_torch::bytes_in_use, "Bytes held by live halkit storages.");
  halkit_torch::bind_autograd_node(m);
  halkit_torch::bind_eager_linear(m);
  m.def("default_generator", []() -> py::object {
    return py::reinterpret_steal<py::object>(
        THPGenerator_Wrap(at::detail::getPrivateUse1Hooks().getDefaultGenerator(0)));
  });
}
