// ISA variant "avx512" of the kernels (compile flags set in CMakeLists.txt).
#define HALKIT_ISA_NS avx512
#include "isa_avx512.hpp"
#include "kernels_impl.hpp"

namespace halkit {
const Kernels kernels_avx512 = {"avx512", avx512::make_set<float>(), avx512::make_set<double>(),
                                  &avx512::k_gemm_bf16_widened, &avx512::bf16_to_f32_n, &avx512::f32_to_bf16_n,
                                  &avx512::fma_loop_f32};
}  // namespace halkit
