// ISA variant "avx2" of the kernels (compile flags set in CMakeLists.txt).
#define HALKIT_ISA_NS avx2
#define HALKIT_VBYTES 32
#define HALKIT_MR_F32 6
#define HALKIT_NV_F32 2
#define HALKIT_MR_F64 6
#define HALKIT_NV_F64 2
#include "kernels_impl.hpp"

namespace halkit {
const Kernels kernels_avx2 = {"avx2", avx2::make_set<float>(), avx2::make_set<double>(),
                                  &avx2::k_gemm_bf16_widened, &avx2::bf16_to_f32_n, &avx2::f32_to_bf16_n,
                                  &avx2::fma_loop_f32};
}  // namespace halkit
