// The host-kernel ABI (host_kernels.h): the chosen ISA's kernels as C functions, published as the capsule
// _native.host_kernels, with the same splitting over the pool as the ops' bindings.
#include <exception>

#include "host_kernels.h"
#include "bind.hpp"

namespace halkit {
namespace bind {
namespace {

// Runs f; the ABI's status: 0, or -1 when an allocation failed (a kernel's only exception).
template <class F> int status_of(F&& f) noexcept {
    try {
        f();
        return 0;
    } catch (const std::exception&) {
        return -1;
    }
}

int gemm_f32(const float* a, const float* b, const float* bias, float* c, long m, long n, long k, long lda, long ldb,
             long ldc, int trans_a, int trans_b, int act) {
    return status_of([&] {
        const GemmProblem<float> p{a, b, c, bias, m, n, k, lda, ldb, ldc, trans_a != 0, trans_b != 0, act};
        ks<float>().gemm(p, parallel());
    });
}

int sum_rows_f32(const float* x, long rows, long n, float* out) {
    return status_of([&] { sum_rows_run(x, rows, n, out); });
}

int relu_backward_f32(const float* grad, const float* x, float* out, long count) {
    return status_of([&] {
        ew_run(count, [&](long o, long c) { ks<float>().binary(BIN_RELU_BW, grad + o, x + o, out + o, c); });
    });
}

constexpr HalkitHostKernels kTable{&gemm_f32, &sum_rows_f32, &relu_backward_f32};

}  // namespace

void register_host_kernels(py::module_& m) {
    // const_cast: a capsule holds a void*; the table is never written through it.
    m.attr("host_kernels") = py::capsule(const_cast<HalkitHostKernels*>(&kTable), HALKIT_HOST_KERNELS_CAPSULE);
}

}  // namespace bind
}  // namespace halkit
