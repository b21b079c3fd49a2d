// The bf16 GEMM on AVX512_BF16 dot products (vdpbf16ps), compiled with the avx512
// kernels' flags plus -mavx512bf16 (CMakeLists.txt).  Only gemm_bf16_dot and the
// dpbf16_loop ceiling probe leave this file, and the module calls them only when the
// CPU has AVX512_BF16.  It includes the shared pieces it needs (vectors, conversions,
// GEMM blocking helpers), not every kernel: nothing else here is instantiated.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>
#include <immintrin.h>

#include "kernels.hpp"

#if defined(__AVX512BF16__)
#include "isa_avx512.hpp"

namespace halkit {
namespace avx512bf16 {
#define HK_ALWAYS_INLINE inline __attribute__((always_inline))
#include "simd.hpp"
#include "bf16.hpp"
#include "eltwise_impl.hpp"
#include "gemm_impl.hpp"
#include "gemm_bf16_dot.hpp"

// bf16 dot-product ceiling probe, the bf16 twin of fma_loop_f32: `iters` rounds of 24
// independent vdpbf16ps chains held in registers (24 > latency x ports on every core
// seen so far, and 24 + 2 operands fit the 32 zmm registers).  Each instruction does
// 16 lanes x 2 bf16 products, each a multiply and an add: 64 flops.  b holds (x, -x)
// pairs, so every dot adds exactly 0 and the accumulators stay put however long it
// runs (no overflow; nothing for the compiler to fold: vdpbf16ps is not constant-folded
// and each chain depends on its previous value).
double dpbf16_loop(long iters) {
    constexpr int A = 24;
    __m512 acc[A];
#pragma GCC unroll 24
    for (int i = 0; i < A; ++i) acc[i] = _mm512_set1_ps(1.0f + 1e-3f * float(i));
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3F803F80);  // (1.0, 1.0)
    const __m512bh b = (__m512bh)_mm512_set1_epi32(int(0xBF003F00u));  // (0.5, -0.5)
    for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 24
        for (int i = 0; i < A; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
#pragma GCC unroll 24
    for (int i = 1; i < A; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    volatile float sink = lane_sum<float>((Vec<float>::V)acc[0]);
    (void)sink;
    return 64.0 * A * double(iters);
}
}  // namespace avx512bf16

void (*const gemm_bf16_dot)(const GemmProblem<bf16>&, const Parallel&) = &avx512bf16::k_gemm_bf16_dot;
double (*const dpbf16_loop)(long) = &avx512bf16::dpbf16_loop;
}  // namespace halkit
#else
namespace halkit {
void (*const gemm_bf16_dot)(const GemmProblem<bf16>&, const Parallel&) = nullptr;
double (*const dpbf16_loop)(long) = nullptr;
}  // namespace halkit
#endif
