// ISA variant "avx512" of the kernels (compile flags set in CMakeLists.txt).
#define HALKIT_ISA_NS avx512
#define HALKIT_VBYTES 64
#define HALKIT_MR_F32 12
#define HALKIT_NV_F32 2
#define HALKIT_MR_F64 12
#define HALKIT_NV_F64 2
#include "kernels_impl.hpp"

namespace halkit {
const Kernels kernels_avx512 = {"avx512", avx512::make_set<float>(), avx512::make_set<double>(),
                                  &avx512::k_gemm_bf16_widened, &avx512::bf16_to_f32_n, &avx512::f32_to_bf16_n,
                                  &avx512::fma_loop_f32};
}  // namespace halkit
