// The aten ops that only create tensors or change their metadata (sizes, strides, storage), registered
// for the halkit device in C++ so views share storage exactly as on CPU and CUDA; and the fallback that
// runs every op halkit has no kernel for on the CPU (counted, refusable in strict mode).
//
// Compute and copies are Python kernels (halkit/torch/device/): they go through the HAL.
#include "device_memory.h"

#include <ATen/EmptyTensor.h>
#include <ATen/native/CPUFallback.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/set_native.h>
#include <ATen/ops/view_native.h>
#include <torch/library.h>

#include <sstream>

namespace py = pybind11;

namespace halkit_torch {
namespace {

constexpr c10::DispatchKeySet kHalkitKeys(c10::DispatchKey::PrivateUse1);

void check_options(std::optional<c10::Device> device, std::optional<c10::Layout> layout,
                   std::optional<bool> pin_memory) {
  TORCH_CHECK(c10::device_or_default(device).is_privateuseone(), "expected a halkit device, got ",
              c10::device_or_default(device));
  TORCH_CHECK(!device.has_value() || device->index() <= 0, "halkit has one device, halkit:0; got ", *device);
  TORCH_CHECK(c10::layout_or_default(layout) == c10::Layout::Strided,
              "halkit tensors are strided; layout ", c10::layout_or_default(layout), " is not supported");
  TORCH_CHECK(!c10::pinned_memory_or_default(pin_memory), "pin_memory applies to CPU tensors only");
}

at::Tensor empty_memory_format(c10::IntArrayRef size, std::optional<c10::ScalarType> dtype,
                               std::optional<c10::Layout> layout, std::optional<c10::Device> device,
                               std::optional<bool> pin_memory, std::optional<c10::MemoryFormat> memory_format) {
  check_options(device, layout, pin_memory);
  return at::detail::empty_generic(size, device_allocator(), kHalkitKeys, c10::dtype_or_default(dtype),
                                   memory_format);
}

at::Tensor empty_strided(c10::IntArrayRef size, c10::IntArrayRef stride, std::optional<c10::ScalarType> dtype,
                         std::optional<c10::Layout> layout, std::optional<c10::Device> device,
                         std::optional<bool> pin_memory) {
  check_options(device, layout, pin_memory);
  return at::detail::empty_strided_generic(size, stride, device_allocator(), kHalkitKeys,
                                           c10::dtype_or_default(dtype));
}

// The storage must cover the tensor's elements; grow it (on the device) when it does not.
void ensure_capacity(const at::Tensor& self) {
  if (self.numel() == 0) {
    return;
  }
  const size_t needed = at::detail::computeStorageNbytes(self.sizes(), self.strides(), self.dtype().itemsize(),
                                                         self.storage_offset());
  if (needed > self.storage().nbytes()) {
    grow_storage(self.storage(), needed);
  }
}

const at::Tensor& resize_(const at::Tensor& self, c10::SymIntArrayRef size,
                          std::optional<c10::MemoryFormat> memory_format) {
  auto* impl = self.unsafeGetTensorImpl();
  impl->set_sizes_contiguous(C10_AS_INTARRAYREF_SLOW(size));
  if (memory_format.has_value()) {
    impl->empty_tensor_restride(*memory_format);
  }
  ensure_capacity(self);
  return self;
}

at::Tensor as_strided(const at::Tensor& self, c10::SymIntArrayRef size, c10::SymIntArrayRef stride,
                      std::optional<c10::SymInt> storage_offset) {
  std::optional<int64_t> offset;
  if (storage_offset.has_value()) {
    offset = storage_offset->expect_int();
  }
  return at::native::as_strided_tensorimpl(self, C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride),
                                           offset);
}

at::Tensor view(const at::Tensor& self, c10::SymIntArrayRef size) {
  return at::native::view(self, C10_AS_INTARRAYREF_SLOW(size));
}

at::Tensor reshape_alias(const at::Tensor& self, c10::SymIntArrayRef size, c10::SymIntArrayRef stride) {
  return at::native::_reshape_alias(self, C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride));
}

at::Tensor& set_storage(at::Tensor& self, at::Storage source, int64_t storage_offset, c10::IntArrayRef size,
                        c10::IntArrayRef stride) {
  TORCH_CHECK(source.device().is_privateuseone(), "set_: a halkit tensor can only take a halkit storage, got one on ",
              source.device());
  auto* impl = self.unsafeGetTensorImpl();
  impl->set_storage_keep_dtype(std::move(source));
  impl->set_storage_offset(storage_offset);
  if (stride.data() != nullptr && !stride.empty()) {
    impl->set_sizes_and_strides(size, stride);
  } else {
    impl->set_sizes_contiguous(size);
  }
  ensure_capacity(self);
  return self;
}

at::Tensor& set_whole_storage(at::Tensor& self, at::Storage source) {
  const int64_t numel = static_cast<int64_t>(source.nbytes() / self.dtype().itemsize());
  return set_storage(self, std::move(source), 0, {numel}, {});
}

at::Tensor& set_tensor(at::Tensor& self, const at::Tensor& source) {
  return set_storage(self, source.storage(), source.storage_offset(), source.sizes(), source.strides());
}

at::Tensor& set_empty(at::Tensor& self) {
  return set_storage(self, storage_for(py::none(), 0, 0), 0, {0}, {});
}

// Torch's usual message when an op mixes devices. CPU 0-dim tensors are scalars (torch accepts them anywhere).
void check_one_device(const c10::OperatorHandle& op, const torch::jit::Stack& stack) {
  const auto n = op.schema().arguments().size();
  std::optional<c10::Device> halkit, other;
  auto visit = [&](const at::Tensor& t) {
    if (!t.defined()) return;
    if (t.device().is_privateuseone()) {
      halkit = t.device();
    } else if (!(t.device().is_cpu() && t.dim() == 0)) {
      other = t.device();
    }
  };
  for (auto it = stack.end() - static_cast<std::ptrdiff_t>(n); it != stack.end(); ++it) {
    if (it->isTensor()) {
      visit(it->toTensor());
    } else if (it->isTensorList()) {
      for (const at::Tensor& t : it->toTensorList().vec()) visit(t);
    } else if (it->isOptionalTensorList()) {
      for (const std::optional<at::Tensor>& t : it->toOptionalTensorList().vec()) {
        if (t.has_value()) visit(*t);
      }
    }
  }
  if (halkit.has_value() && other.has_value()) {
    std::ostringstream message;
    message << "Expected all tensors to be on the same device, but found at least two devices, " << *halkit
            << " and " << *other << "! (in " << op.schema().operator_name() << ")";
    TORCH_CHECK(false, message.str());
  }
}

void cpu_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  check_one_device(op, *stack);
  // A view op cannot run on the CPU and still alias device memory: refuse it rather than return a copy.
  for (const auto& result : op.schema().returns()) {
    const auto* alias = result.alias_info();
    TORCH_CHECK(alias == nullptr || alias->isWrite(), "halkit has no kernel for the view op ",
                op.schema().operator_name(), ", and a view computed on the CPU could not alias device memory: "
                "make the tensor contiguous (or copy it to the CPU) first");
  }
  {
    py::gil_scoped_acquire gil;
    if (callbacks().on_fallback) {
      std::ostringstream name;
      name << op.schema().operator_name();
      callbacks().on_fallback(name.str());  // counts it; raises FallbackError in strict mode
    }
  }
  at::native::cpu_fallback(op, stack, /*error_on_views=*/true);
}

}  // namespace

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("empty.memory_format", empty_memory_format);
  m.impl("empty_strided", empty_strided);
  m.impl("resize_", resize_);
  m.impl("as_strided", as_strided);
  m.impl("view", view);
  m.impl("_reshape_alias", reshape_alias);
  m.impl("set_.source_Storage_storage_offset", set_storage);
  m.impl("set_.source_Storage", set_whole_storage);
  m.impl("set_.source_Tensor", set_tensor);
  m.impl("set_", set_empty);
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&cpu_fallback>());
}

}  // namespace halkit_torch
