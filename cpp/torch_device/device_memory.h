// Device memory of the torch device "halkit": storages whose bytes live on a HAL driver.
//
// The bytes themselves are owned by Python (a halkit.hal allocation, freed when its last
// reference goes), so a storage's DataPtr carries a reference to that Python owner. Its data
// pointer is an address the host cannot use: a PROT_NONE reservation of the same size, unique
// while the storage lives, so torch's overlap and aliasing checks (which compare addresses)
// stay correct while a stray host read faults instead of reading someone else's memory.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Allocator.h>
#include <c10/core/Storage.h>

#include <pybind11/pybind11.h>

namespace halkit_torch {

// The Python callables the C++ side calls; installed once by halkit.torch.device. A Python exception
// they raise reaches the caller unchanged (pybind11::error_already_set crosses the dispatcher).
struct Callbacks {
  pybind11::object allocate;     // (nbytes, device_index) -> owner
  pybind11::object copy_bytes;   // (dst_owner, src_owner, nbytes) -> None   (device -> device)
  pybind11::object on_fallback;  // (op_name) -> None; raises to refuse (strict mode)
  pybind11::object synchronize;  // () -> None: wait for everything issued to the device
};
// Leaked on purpose: destroying Python objects during static destruction would need a dead interpreter.
Callbacks& callbacks();

// The allocator registered for PrivateUse1: asks Python for device memory.
c10::Allocator* device_allocator();

// A storage over `owner` (a Python object holding `nbytes` of device memory): no allocation.
c10::Storage storage_for(const pybind11::object& owner, size_t nbytes, c10::DeviceIndex device);

// The Python owner behind a storage, or None for an empty or foreign storage (call with the GIL held).
pybind11::object owner_of(const c10::Storage& storage);

// Grow `storage` to `nbytes`, keeping its contents (allocate, copy on the device, swap).
void grow_storage(const c10::Storage& storage, size_t nbytes);

// Bytes of device memory held by live storages of this process.
size_t bytes_in_use();

}  // namespace halkit_torch
