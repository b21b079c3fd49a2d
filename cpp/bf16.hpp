// bfloat16 <-> float32 conversions, scalar and vector.  Included inside namespace
// halkit::HALKIT_ISA_NS after simd.hpp.
//
// Rounding to bf16 is round-to-nearest-even with NaN kept NaN and subnormals kept
// (ml_dtypes' astype, the numpy reference); vcvtneps2bf16 would flush subnormals.
// (The AVX512_BF16 dot products themselves do flush: see gemm_bf16_dot.hpp.)

// bf16 <-> float32: a bf16 is the upper half of a float32's bits.
HK_ALWAYS_INLINE float bf16_to_f32(bf16 v) {
    const std::uint32_t u = std::uint32_t(v.bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
using U32V = std::uint32_t __attribute__((vector_size(VB)));
using U16H = std::uint16_t __attribute__((vector_size(VB / 2)));
// L float32 lanes rounded to bf16 (nearest, ties to even; NaN stays a quiet NaN)
HK_ALWAYS_INLINE U16H round_to_bf16(Vec<float>::V v) {
    U32V u;
    std::memcpy(&u, &v, sizeof u);
    const U32V rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    const U32V quiet_nan = (u >> 16) | 0x40u;
    return __builtin_convertvector(v != v ? quiet_nan : rounded, U16H);
}
HK_ALWAYS_INLINE Vec<float>::V widen_bf16(U16H h) {
    const U32V u = __builtin_convertvector(h, U32V) << 16;
    Vec<float>::V v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}
// dst[0:n] = src[0:n] widened (float32) / rounded (bf16)
void bf16_to_f32_n(const bf16* src, float* dst, long n) {
    constexpr int L = Vec<float>::L;
    long i = 0;
    for (; i + L <= n; i += L) {
        U16H h;
        std::memcpy(&h, src + i, sizeof h);
        storeu(dst + i, widen_bf16(h));
    }
    for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}
void f32_to_bf16_n(const float* src, bf16* dst, long n) {
    constexpr int L = Vec<float>::L;
    long i = 0;
    for (; i + L <= n; i += L) {
        const U16H h = round_to_bf16(loadu(src + i));
        std::memcpy(dst + i, &h, sizeof h);
    }
    if (i < n) {  // the tail through a zero-padded vector
        alignas(64) float t[L] = {};
        std::memcpy(t, src + i, (n - i) * sizeof(float));
        const U16H h = round_to_bf16(loadu(t));
        std::memcpy(dst + i, &h, (n - i) * sizeof(bf16));
    }
}

