// What torch asks of any device besides memory: a device guard (current device, streams, events),
// the PrivateUse1 hooks (availability, generators) and a random-number generator.
//
// halkit exposes one torch device, "halkit:0", whose work goes to the HAL driver chosen in Python.
// Streams and events at this level are torch's default stream only: halkit's own streams
// (halkit.hal.Stream, torch.halkit.Stream) order the device work; synchronizing asks Python.
#include "device_memory.h"

#include <ATen/core/GeneratorForPrivateuseone.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/TensorImpl.h>

namespace py = pybind11;

namespace halkit_torch {
namespace {

constexpr c10::DeviceType kHalkit = c10::DeviceType::PrivateUse1;

void synchronize_device() {
  py::gil_scoped_acquire gil;
  if (callbacks().synchronize) {
    callbacks().synchronize();
  }
}

struct GuardImpl final : c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return kHalkit; }
  c10::Device exchangeDevice(c10::Device d) const override { check(d); return {kHalkit, 0}; }
  c10::Device getDevice() const override { return {kHalkit, 0}; }
  void setDevice(c10::Device d) const override { check(d); }
  void uncheckedSetDevice(c10::Device) const noexcept override {}
  c10::Stream getStream(c10::Device d) const noexcept override { return default_stream(d); }
  c10::Stream getDefaultStream(c10::Device d) const override { return default_stream(d); }
  c10::Stream getNewStream(c10::Device d, int) const override { return default_stream(d); }
  c10::Stream getStreamFromGlobalPool(c10::Device d, bool) const override { return default_stream(d); }
  c10::Stream exchangeStream(c10::Stream s) const noexcept override { return s; }
  c10::DeviceIndex deviceCount() const noexcept override { return 1; }
  // Events of torch's generic stream API: the device is synchronized when one is recorded, so
  // every recorded event is complete by the time anyone can query it.
  void record(void** event, const c10::Stream&, const c10::DeviceIndex, const c10::EventFlag) const override {
    synchronize_device();
    *event = reinterpret_cast<void*>(1);
  }
  void block(void*, const c10::Stream&) const override {}
  bool queryEvent(void*) const override { return true; }
  void destroyEvent(void*, const c10::DeviceIndex) const noexcept override {}
  bool queryStream(const c10::Stream&) const override { synchronize_device(); return true; }
  void synchronizeStream(const c10::Stream&) const override { synchronize_device(); }
  void synchronizeEvent(void*) const override {}
  void synchronizeDevice(const c10::DeviceIndex) const override { synchronize_device(); }

 private:
  static void check(c10::Device d) {
    TORCH_CHECK(d.type() == kHalkit && (d.index() == 0 || d.index() == -1),
                "halkit has one device, halkit:0; got ", d);
  }
  static c10::Stream default_stream(c10::Device d) {
    return c10::Stream(c10::Stream::DEFAULT, c10::Device(kHalkit, 0));
  }
};

// Counter-based generator: a seed and an offset, the two numbers the HAL's random ops take
// (halkit.hal.random_normal(shape, seed, offset)). Python advances the offset per draw.
struct Generator final : c10::GeneratorImpl {
  explicit Generator(c10::DeviceIndex index = 0)
      : c10::GeneratorImpl(c10::Device(kHalkit, 0), c10::DispatchKeySet(c10::DispatchKey::PrivateUse1)) {}

  void set_current_seed(uint64_t seed) override { seed_ = seed; offset_ = 0; }
  void set_offset(uint64_t offset) override { offset_ = offset; }
  uint64_t get_offset() const override { return offset_; }
  uint64_t current_seed() const override { return seed_; }
  uint64_t seed() override {
    set_current_seed(c10::detail::getNonDeterministicRandom());
    return seed_;
  }
  // The state is the two numbers as a 16-byte CPU tensor (what torch.get_rng_state-style APIs pass).
  void set_state(const c10::TensorImpl& state) override {
    TORCH_CHECK(state.numel() == 16 && state.dtype() == c10::kByte && state.device().is_cpu(),
                "a halkit generator state is a uint8 CPU tensor of 16 bytes (seed, offset)");
    const auto* words = static_cast<const uint64_t*>(state.data());
    seed_ = words[0];
    offset_ = words[1];
  }
  c10::intrusive_ptr<c10::TensorImpl> get_state() const override {
    auto state = c10::make_intrusive<c10::TensorImpl>(
        c10::Storage(c10::Storage::use_byte_size_t(), 16, c10::GetCPUAllocator()->allocate(16),
                     c10::GetCPUAllocator(), false),
        c10::DispatchKeySet(c10::DispatchKey::CPU), caffe2::TypeMeta::Make<uint8_t>());
    state->set_sizes_contiguous({16});
    auto* words = static_cast<uint64_t*>(state->mutable_data());
    words[0] = seed_;
    words[1] = offset_;
    return state;
  }

 private:
  Generator* clone_impl() const override {
    auto* copy = new Generator();
    copy->seed_ = seed_;
    copy->offset_ = offset_;
    return copy;
  }
  uint64_t seed_ = 67280421310721ULL;  // torch's default seed
  uint64_t offset_ = 0;
};

struct Hooks final : at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return true; }
  bool hasPrimaryContext(c10::DeviceIndex) const override { return true; }
  c10::DeviceIndex deviceCount() const override { return 1; }
  void setCurrentDevice(c10::DeviceIndex) const override {}
  c10::DeviceIndex getCurrentDevice() const override { return 0; }
  c10::DeviceIndex exchangeDevice(c10::DeviceIndex) const override { return 0; }
  c10::DeviceIndex maybeExchangeDevice(c10::DeviceIndex) const override { return 0; }
  bool isPinnedPtr(const void*) const override { return false; }
  at::Allocator* getPinnedMemoryAllocator() const override {
    TORCH_CHECK(false, "halkit has no pinned host memory: copy from ordinary CPU tensors");
  }
  c10::Device getDeviceFromPtr(void*) const override { return {kHalkit, 0}; }
  const at::Generator& getDefaultGenerator(c10::DeviceIndex) const override {
    static at::Generator generator = at::make_generator<Generator>();
    return generator;
  }
  at::Generator getNewGenerator(c10::DeviceIndex index) const override {
    return at::make_generator<Generator>(index);
  }
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t nbytes) const override {
    if (nbytes > storage.nbytes()) {
      grow_storage(storage, nbytes);
    } else {
      storage.unsafeGetStorageImpl()->set_nbytes(nbytes);
    }
  }
};

}  // namespace

C10_REGISTER_GUARD_IMPL(PrivateUse1, GuardImpl);

void register_device_runtime() {
  static Hooks hooks;
  at::RegisterPrivateUse1HooksInterface(&hooks);
  c10::SetAllocator(kHalkit, device_allocator());
}

}  // namespace halkit_torch
