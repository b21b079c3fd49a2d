// ISA variant "portable" of the kernels (compile flags set in CMakeLists.txt).
#define HALKIT_ISA_NS portable
#define HALKIT_VBYTES 16
#define HALKIT_MR_F32 6
#define HALKIT_NV_F32 2
#define HALKIT_MR_F64 6
#define HALKIT_NV_F64 2
#include "kernels_impl.hpp"

namespace halkit {
const Kernels kernels_portable = {"portable", portable::make_set<float>(), portable::make_set<double>(),
                                  &portable::k_gemm_bf16_widened, &portable::bf16_to_f32_n, &portable::f32_to_bf16_n,
                                  &portable::fma_loop_f32};
}  // namespace halkit
