// halkit native kernels, compiled once per ISA.  The including translation unit defines
//   HALKIT_ISA_NS      namespace name (portable / avx2 / avx512)
//   HALKIT_VBYTES      vector width in bytes (16 / 32 / 64)
//   HALKIT_MR_F32, HALKIT_NV_F32, HALKIT_MR_F64, HALKIT_NV_F64
//                      GEMM micro-tile: MR rows x NV vectors
// and is compiled with the matching -m flags.  Nothing here is `inline` at
// namespace scope outside HALKIT_ISA_NS, and no std:: containers are used, so
// the linker can never merge an AVX-512 copy of a function into the portable
// path (the classic multi-ISA ODR trap).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <sys/mman.h>
#include <unistd.h>  // sysconf: the L2 size (GEMM blocking)
#include <utility>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // reciprocal estimates and mask tests (always-inline intrinsics: no ODR merging)
#endif

#include "kernels.hpp"

namespace halkit {
namespace HALKIT_ISA_NS {

#define HK_ALWAYS_INLINE inline __attribute__((always_inline))

#include "simd.hpp"
#include "bf16.hpp"
#include "eltwise_impl.hpp"
#include "gemm_impl.hpp"
#include "gemm_bf16_widened.hpp"
#include "conv_impl.hpp"
#include "norm_impl.hpp"
#include "pool_impl.hpp"

double fma_loop_f32(long iters) {
    using V = Vec<float>::V;
    constexpr int A = VB == 64 ? 16 : 12;  // independent chains (> latency x ports), all in registers
    V acc[A];
#pragma GCC unroll 16
    for (int i = 0; i < A; ++i) acc[i] = splat<float>(1.0f + 1e-3f * i);
    const V m = splat<float>(0.999999f), c = splat<float>(1e-7f);
    for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < A; ++i) {
            acc[i] = acc[i] * m + c;  // FMA chains: not reassociable, nothing to fold
        }
    }
#pragma GCC unroll 16
    for (int i = 1; i < A; ++i) acc[0] += acc[i];
    float s = 0;
    for (int l = 0; l < Vec<float>::L; ++l) s += acc[0][l];
    volatile float sink = s;
    (void)sink;
    return 2.0 * A * Vec<float>::L * double(iters);
}

template <class T> constexpr KernelSet<T> make_set() {
    KernelSet<T> s{};
    s.gemm = &k_gemm<T>;
    s.unary = &k_unary<T>;
    s.binary = &k_binary<T>;
    s.scale = &k_scale<T>;
    s.axpy = &k_axpy<T>;
    s.add_bias = &k_add_bias<T>;
    s.softmax = &k_softmax<T>;
    s.softmax_bw = &k_softmax_bw<T>;
    s.layer_norm = &k_layer_norm<T>;
    s.layer_norm_bw = &k_layer_norm_bw<T>;
    s.sum_rows = &k_sum_rows<T>;
    s.conv2d = &k_conv2d<T>;
    s.conv2d_input_grad = &k_conv2d_input_grad<T>;
    s.conv2d_weight_grad = &k_conv2d_weight_grad<T>;
    s.batch_norm = &k_batch_norm<T>;
    s.batch_norm_stats = &k_batch_norm_stats<T>;
    s.batch_norm_bw = &k_batch_norm_bw<T>;
    s.reduce_mid = &k_reduce_mid<T, T>;
    s.reduce_mid_d = &k_reduce_mid<T, double>;
    s.max_pool2d = &k_max_pool2d<T>;
    s.max_pool2d_bw = &k_max_pool2d_bw<T>;
    s.avg_pool2d = &k_avg_pool2d<T>;
    s.avg_pool2d_bw = &k_avg_pool2d_bw<T>;
    s.adaptive_avg_pool2d = &k_adaptive_avg_pool2d<T>;
    s.adaptive_avg_pool2d_bw = &k_adaptive_avg_pool2d_bw<T>;
    s.mr = Cfg<T>::MR;
    s.nr = Cfg<T>::NR;
    return s;
}

}  // namespace HALKIT_ISA_NS
}  // namespace halkit
