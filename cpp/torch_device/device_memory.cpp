// Device memory of the torch device "halkit" (see device_memory.h).
#include "device_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <c10/util/Exception.h>

namespace py = pybind11;

namespace halkit_torch {
namespace {

// One live device allocation: the Python object that owns the bytes, and the host address range
// reserved (never mapped readable) to stand for them.
struct Holder {
  PyObject* owner;  // strong reference
  void* address;
  size_t reserved;
  size_t nbytes;
};

std::atomic<size_t> g_bytes_in_use{0};

size_t page_rounded(size_t nbytes) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (nbytes + page - 1) / page * page;
}

// Address ranges of freed storages, kept per size for the next storage of that size: a training step
// frees and allocates the same sizes over and over, and two system calls per tensor would dominate a small op.
class Reservations {
 public:
  void* take(size_t reserved) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& spare = spare_[reserved];
      if (!spare.empty()) {
        void* address = spare.back();
        spare.pop_back();
        return address;
      }
    }
    void* address = mmap(nullptr, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    TORCH_CHECK(address != MAP_FAILED, "halkit: could not reserve ", reserved,
                " bytes of address space to stand for a device buffer");
    return address;
  }

  void give_back(void* address, size_t reserved) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& spare = spare_[reserved];
      if (spare.size() < kKeptPerSize) {
        spare.push_back(address);
        return;
      }
    }
    munmap(address, reserved);
  }

 private:
  static constexpr size_t kKeptPerSize = 64;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> spare_;
};

Reservations& reservations() {
  static auto* instance = new Reservations();  // leaked: storages may be freed during static destruction
  return *instance;
}

void delete_holder(void* ctx) {
  auto* holder = static_cast<Holder*>(ctx);
  reservations().give_back(holder->address, holder->reserved);
  g_bytes_in_use -= holder->nbytes;
  // At interpreter exit Python tears the owners down itself: leave them alone then.
  if (Py_IsInitialized() && !_Py_IsFinalizing()) {
    py::gil_scoped_acquire gil;
    Py_DECREF(holder->owner);
  }
  delete holder;
}

c10::DataPtr empty_data_ptr(c10::DeviceIndex device) {
  return c10::DataPtr(nullptr, c10::Device(c10::DeviceType::PrivateUse1, device));
}

c10::DataPtr data_ptr_for(const py::object& owner, size_t nbytes, c10::DeviceIndex device) {
  const size_t reserved = page_rounded(nbytes);
  void* address = reservations().take(reserved);
  auto* holder = new Holder{owner.inc_ref().ptr(), address, reserved, nbytes};
  g_bytes_in_use += nbytes;
  return c10::DataPtr(address, holder, &delete_holder, c10::Device(c10::DeviceType::PrivateUse1, device));
}

struct DeviceAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t nbytes) override {
    constexpr c10::DeviceIndex device = 0;
    if (nbytes == 0) {
      return empty_data_ptr(device);
    }
    py::gil_scoped_acquire gil;
    TORCH_CHECK(callbacks().allocate, "halkit: the torch device is not set up (import halkit.torch.device)");
    py::object owner = callbacks().allocate(nbytes, device);
    return data_ptr_for(owner, nbytes, device);
  }

  c10::DeleterFnPtr raw_deleter() const override {
    return nullptr;  // every DataPtr carries its own owner: raw (context-free) allocations are not offered
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    TORCH_CHECK(false, "halkit device memory is not readable by the host; copy tensors with .to(...) or copy_()");
  }
};

}  // namespace

Callbacks& callbacks() {
  static auto* instance = new Callbacks();
  return *instance;
}

c10::Allocator* device_allocator() {
  static DeviceAllocator allocator;
  return &allocator;
}

c10::Storage storage_for(const py::object& owner, size_t nbytes, c10::DeviceIndex device) {
  c10::DataPtr data = nbytes == 0 ? empty_data_ptr(device) : data_ptr_for(owner, nbytes, device);
  return c10::Storage(c10::Storage::use_byte_size_t(), nbytes, std::move(data), device_allocator(),
                      /*resizable=*/true);
}

py::object owner_of(const c10::Storage& storage) {
  const c10::DataPtr& data = storage.data_ptr();
  if (data.get_deleter() != &delete_holder) {
    return py::none();
  }
  return py::reinterpret_borrow<py::object>(static_cast<Holder*>(data.get_context())->owner);
}

void grow_storage(const c10::Storage& storage, size_t nbytes) {
  const size_t old_nbytes = storage.nbytes();
  c10::DataPtr grown = device_allocator()->allocate(nbytes);
  if (old_nbytes > 0) {
    py::gil_scoped_acquire gil;
    py::object src = owner_of(storage);
    TORCH_CHECK(!src.is_none(), "halkit: cannot resize a storage that halkit did not allocate");
    py::object dst = py::reinterpret_borrow<py::object>(static_cast<Holder*>(grown.get_context())->owner);
    callbacks().copy_bytes(dst, src, old_nbytes);
  }
  storage.unsafeGetStorageImpl()->set_data_ptr_noswap(std::move(grown));
  storage.unsafeGetStorageImpl()->set_nbytes(nbytes);
}

size_t bytes_in_use() {
  return g_bytes_in_use.load();
}

}  // namespace halkit_torch
