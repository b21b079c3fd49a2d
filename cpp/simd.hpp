// SIMD building blocks shared by every kernel file: vector types, unaligned
// loads/stores, broadcasts, the vector math (exp, erf, GELU), lane tests and the
// in-register transpose.  Included by kernels_impl.hpp inside namespace
// halkit::HALKIT_ISA_NS, once per ISA (the TU's -m flags decide the code).
constexpr int VB = HALKIT_VBYTES;

template <class T> struct Vec;
template <> struct Vec<float> {
    typedef float V __attribute__((vector_size(VB)));
    typedef int32_t I __attribute__((vector_size(VB)));
    static constexpr int L = VB / 4;
};
template <> struct Vec<double> {
    typedef double V __attribute__((vector_size(VB)));
    typedef int64_t I __attribute__((vector_size(VB)));
    static constexpr int L = VB / 8;
};

template <class T> HK_ALWAYS_INLINE typename Vec<T>::V loadu(const T* p) {
    typename Vec<T>::V v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <class T> HK_ALWAYS_INLINE void storeu(T* p, typename Vec<T>::V v) { std::memcpy(p, &v, sizeof v); }
template <class T> HK_ALWAYS_INLINE typename Vec<T>::V splat(T s) {
    // s - 0.0 == s exactly (signed zeros and NaN included), so GCC folds this to a
    // plain broadcast; `V{} + s` would keep an add (-0.0 + 0.0 != -0.0).
    return s - typename Vec<T>::V{};
}
template <class T> HK_ALWAYS_INLINE T hmin(T a, T b) { return a < b ? a : b; }
template <class T> HK_ALWAYS_INLINE T hmax(T a, T b) { return a < b ? b : a; }

// x, rounded to T before it is used: stops the compiler from contracting
// `a + rounded(b * c)` into one FMA.  Element-wise kernels use it where NumPy (the
// reference) rounds a product before adding and the sum cancels (1 - y*y near
// y = 1): the fused form is more exact, but 1e-5 away from the reference there.
template <class V> HK_ALWAYS_INLINE V rounded(V x) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__("" : "+v"(x));
#elif defined(__aarch64__)
    __asm__("" : "+w"(x));
#else
    volatile V keep = x;
    x = keep;
#endif
    return x;
}

// x held in a register: GCC may not fold its load into every use as a memory
// operand (a kernel that uses one loaded vector JB times would load it JB times).
template <class V> HK_ALWAYS_INLINE V in_register(V x) { return rounded(x); }

// ---------------------------------------------------------------- math
// max(x, 0) that keeps NaN (like np.maximum / torch.relu): NaN < 0 is false -> x.
template <class V> HK_ALWAYS_INLINE V v_relu(V x) {
    V z = {};
    return x < z ? z : x;
}

// 1 / x for float32 vectors without a divide: the hardware estimate refined by
// one Newton step (AVX-512: 14-bit estimate -> ~1 ulp; AVX: 12-bit -> ~2 ulp).
// A vector divide is the slowest step of the rational erf below: ~10 cycles per
// AVX-512 vector on a port the polynomial needs, against ~3 for this.
HK_ALWAYS_INLINE Vec<float>::V v_recip(Vec<float>::V x) {
    using V = Vec<float>::V;
#if defined(__AVX512F__) && HALKIT_VBYTES == 64
    const V r = (V)_mm512_rcp14_ps((__m512)x);
    return r * (2.f - x * r);
#elif defined(__AVX__) && HALKIT_VBYTES == 32
    const V r = (V)_mm256_rcp_ps((__m256)x);
    return r * (2.f - x * r);
#else
    return 1.f / x;
#endif
}

// erf for float32 vectors: x * P(x^2) / Q(x^2) on [-4, 4] (rational minimax
// fit used by Eigen/XLA, < 2 ulp); |x| > 4 saturates to +-1 in float.
HK_ALWAYS_INLINE Vec<float>::V v_erf(Vec<float>::V x) {
    using V = Vec<float>::V;
    const V c4 = splat<float>(4.f), cm4 = splat<float>(-4.f);
    x = x > c4 ? c4 : x;
    x = x < cm4 ? cm4 : x;
    V x2 = x * x;
    V p = splat<float>(-2.72614225801306e-10f);
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    p = p * x;
    V q = splat<float>(-1.45660718464996e-05f);
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return p * v_recip(q);  // q <= -0.014 on [-4, 4]: never near 0
}

// exp for float32 vectors (Cephes expf: n*ln2 split in two, degree-6 polynomial),
// over the whole float range like libm: the 2^n scaling is applied in two halves,
// so results below FLT_MIN round to the right denormal (NumPy's sigmoid(-100) is
// 3.7e-44, and -inf * that is -inf, not NaN) and results above FLT_MAX become inf.
// NaN propagates.
HK_ALWAYS_INLINE Vec<float>::V v_exp(Vec<float>::V x) {
    using V = Vec<float>::V;
    using I = Vec<float>::I;
    // exp(-104) is below half the smallest denormal; exp(89) overflows
    const V hi = splat<float>(89.f), lo = splat<float>(-104.f);
    x = x > hi ? hi : x;
    x = x < lo ? lo : x;
    V fx = x * 1.44269504088896341f + 0.5f;
    I ti = __builtin_convertvector(fx, I);
    V t = __builtin_convertvector(ti, V);
    V one = splat<float>(1.f), zero = {};
    t = t - (t > fx ? one : zero);  // floor
    x = x - t * 0.693359375f;
    x = x - t * -2.12194440e-4f;
    V z = x * x;
    V y = splat<float>(1.9875691500E-4f);
    y = y * x + 1.3981999507E-3f;
    y = y * x + 8.3334519073E-3f;
    y = y * x + 4.1665795894E-2f;
    y = y * x + 1.6666665459E-1f;
    y = y * x + 5.0000001201E-1f;
    y = y * z + x + 1.f;
    const I n = __builtin_convertvector(t, I);  // in [-150, 129]
    const I n1 = n >> 1, n2 = n - n1;           // each half a normal exponent
    const I e1 = (n1 + 127) << 23, e2 = (n2 + 127) << 23;
    V p1, p2;
    std::memcpy(&p1, &e1, sizeof p1);
    std::memcpy(&p2, &e2, sizeof p2);
    return y * p1 * p2;
}

// double: scalar libm per lane (exact to < 1 ulp; the float path is the hot one).
HK_ALWAYS_INLINE Vec<double>::V v_erf(Vec<double>::V x) {
    for (int l = 0; l < Vec<double>::L; ++l) x[l] = std::erf(x[l]);
    return x;
}
HK_ALWAYS_INLINE Vec<double>::V v_exp(Vec<double>::V x) {
    for (int l = 0; l < Vec<double>::L; ++l) x[l] = std::exp(x[l]);
    return x;
}

// tanh for float32 vectors.  |x| < 0.5: the odd Taylor series to x^13 (truncation
// < 1e-7 relative); else 1 - 2 / (exp(2|x|) + 1) with the sign put back (exp's
// saturation makes |x| > 9 exactly +-1).  NaN propagates through both branches.
HK_ALWAYS_INLINE Vec<float>::V v_tanh(Vec<float>::V x) {
    using V = Vec<float>::V;
    const V ax = x < 0.f ? -x : x;
    const V x2 = x * x;
    V p = splat<float>(21844.f / 6081075.f);
    p = p * x2 - 1382.f / 155925.f;
    p = p * x2 + 62.f / 2835.f;
    p = p * x2 - 17.f / 315.f;
    p = p * x2 + 2.f / 15.f;
    p = p * x2 - 1.f / 3.f;
    const V small = x + x * x2 * p;
    const V big = 1.f - 2.f / (v_exp(ax + ax) + 1.f);
    const V sbig = x < 0.f ? -big : big;
    return ax < 0.5f ? small : sbig;
}
HK_ALWAYS_INLINE Vec<double>::V v_tanh(Vec<double>::V x) {
    for (int l = 0; l < Vec<double>::L; ++l) x[l] = std::tanh(x[l]);
    return x;
}
// 1 / (1 + exp(-x)) written as the reference does: exp of -|x| only, so nothing
// overflows, and e / (1 + e) for x < 0 keeps tiny results' relative accuracy.
template <class V> HK_ALWAYS_INLINE V v_sigmoid(V x) {
    const V ax = x < 0 ? -x : x;
    const V e = v_exp(-ax);
    const V r = 1 / (1 + e);
    return x < 0 ? e * r : r;
}


// Is any lane of a comparison mask set?  log2(L) rotate+OR steps in registers
// (a lane-by-lane loop compiles to one vpextrd per lane).
template <class T, int S, int... E>
constexpr typename Vec<T>::I rot_mask(std::integer_sequence<int, E...>) {
    return typename Vec<T>::I{((E + S) % Vec<T>::L)...};
}
template <class T, int S = Vec<T>::L / 2>
HK_ALWAYS_INLINE typename Vec<T>::I or_fold(typename Vec<T>::I m) {
    if constexpr (S == 0) {
        return m;
    } else {
        constexpr typename Vec<T>::I r = rot_mask<T, S>(std::make_integer_sequence<int, Vec<T>::L>{});
        return or_fold<T, S / 2>(m | __builtin_shuffle(m, r));
    }
}
template <class T> HK_ALWAYS_INLINE bool any_lane(typename Vec<T>::I m) {
#if defined(__AVX512F__) && HALKIT_VBYTES == 64
    return _mm512_test_epi32_mask((__m512i)m, (__m512i)m) != 0;  // one vptestmd into a mask register
#else
    return or_fold<T>(m)[0] != 0;
#endif
}

// Φ(x) = erfc(z) / 2, z = -x/√2, for float x < -3 (z > 2.12), in vector arithmetic:
// erfc(z) = exp(-z²) g(1/z²) / z, where g(u) = z exp(z²) erfc(z) is smooth and
// fitted by a degree-7 polynomial in u on z in [2.1, 9.6] (relative error < 1e-7
// in float).  Past z = 9 (x < -12.7, Φ < 1e-36) the result is 0: the arithmetic
// stays on normal floats, as a denormal operand costs a microcode assist per
// vector.  Lanes with x >= -3 compute a value here that is not used.
HK_ALWAYS_INLINE Vec<float>::V v_cdf_tail(Vec<float>::V x) {
    using V = Vec<float>::V;
    const V near = splat<float>(2.f), far = splat<float>(9.f);  // z in [2, 9], the unused lanes' too
    const V z0 = x * -0.70710678118654752440f, z1 = z0 < far ? z0 : far, z = z1 > near ? z1 : near;
    const V r = v_recip(z), u = r * r;
    V g = splat<float>(-13.662470330255296f);
    g = g * u + 15.377717859400077f;
    g = g * u + -8.197790187477747f;
    g = g * u + 3.020949837519257f;
    g = g * u + -1.0223022992461912f;
    g = g * u + 0.42206088842514716f;
    g = g * u + -0.28207820453440946f;
    g = g * u + 0.5641894886685874f;
    const V c = 0.5f * v_exp(-(z * z)) * g * r;
    return z0 < far ? c : V{};
}

// Φ(x) = (1 + erf(x/√2)) / 2.  For float x < -3 the sum cancels (Φ < 1.4e-3) and
// the rational erf's ~4e-7 absolute error would dominate, so vectors with such lanes
// also take the erfc form above.  It is vector code because such lanes are common: a
// trained network's pre-activations often sit below -3, where a libm erfc call per
// lane made gelu ~40x slower.  (double: libm's erf per lane is accurate enough.)
template <class V, class T> HK_ALWAYS_INLINE V v_cdf(V x) {
    constexpr T inv_sqrt2 = T(0.70710678118654752440);
    V c = (v_erf(x * inv_sqrt2) + T(1)) * T(0.5);
    if constexpr (sizeof(T) == 4) {
        auto tail = x < T(-3);
        if (any_lane<T>(tail)) c = tail ? v_cdf_tail(x) : c;
    }
    return c;
}
template <class V, class T> HK_ALWAYS_INLINE V v_gelu(V x) {
    return x * v_cdf<V, T>(x);
}
// The standard normal density.  Float: below the normal range (|x| > 13.1, pdf < 3e-38)
// it is 0, never a denormal: a denormal costs a microcode assist per vector, and wide
// pre-activations have many such lanes.  (NumPy's float pdf is denormal up to |x| = 14.4:
// the results differ by < 1e-37, and an infinite gradient there gives NaN, not inf.)
template <class V, class T> HK_ALWAYS_INLINE V v_pdf(V x) {
    constexpr T inv_sqrt_2pi = T(0.39894228040143267794);
    const V e = x * x * T(-0.5);
    if constexpr (sizeof(T) == 4) {
        const auto zero = e < T(-86);
        const V pdf = v_exp(zero ? splat<T>(T(-80)) : e) * inv_sqrt_2pi;
        return zero ? V{} : pdf;
    }
    return v_exp(e) * inv_sqrt_2pi;
}
template <class V, class T> HK_ALWAYS_INLINE V v_gelu_bw(V g, V x) {
    V cdf = v_cdf<V, T>(x);
    V pdf = v_pdf<V, T>(x);
    return g * (cdf + rounded(x * pdf));
}

template <class T> HK_ALWAYS_INLINE typename Vec<T>::V v_act(typename Vec<T>::V c, int act) {
    if (act == ACT_RELU) return v_relu(c);
    if (act == ACT_GELU) return v_gelu<typename Vec<T>::V, T>(c);
    return c;
}



// In-register transpose of an L x L block: r[q] = row q  ->  r[q] = column q.
// log2(L) stages of "interleave lower/upper halves of rows i and i + L/2".
template <class T> struct Shuf {
    using V = typename Vec<T>::V;
    using I = typename Vec<T>::I;
    static constexpr int L = Vec<T>::L;
    static constexpr int elem(bool hi, int e) { return (e % 2 ? L : 0) + (hi ? L / 2 : 0) + e / 2; }
    template <int... E> static constexpr I make(bool hi, std::integer_sequence<int, E...>) {
        return I{elem(hi, E)...};
    }
    static constexpr I mask(bool hi) { return make(hi, std::make_integer_sequence<int, L>{}); }
    // lanes 0, 2, 4, ... of the concatenation of two vectors
    template <int... E> static constexpr I make_evens(std::integer_sequence<int, E...>) { return I{(2 * E)...}; }
    static constexpr I evens() { return make_evens(std::make_integer_sequence<int, L>{}); }
    // lane e takes lane (e + by) % L: the vector rotated down by `by` lanes
    template <int... E> static constexpr I make_rot(int by, std::integer_sequence<int, E...>) { return I{((E + by) % L)...}; }
    static constexpr I rot(int by) { return make_rot(by, std::make_integer_sequence<int, L>{}); }
};
// The sum of v's lanes: log2(L) steps of "add the vector rotated by half the
// remaining width" (lane 0 ends with the total).
template <class T> HK_ALWAYS_INLINE T lane_sum(typename Vec<T>::V v) {
    constexpr int L = Vec<T>::L;
    if constexpr (L >= 16) v += __builtin_shuffle(v, Shuf<T>::rot(8));
    if constexpr (L >= 8) v += __builtin_shuffle(v, Shuf<T>::rot(4));
    if constexpr (L >= 4) v += __builtin_shuffle(v, Shuf<T>::rot(2));
    if constexpr (L >= 2) v += __builtin_shuffle(v, Shuf<T>::rot(1));
    return v[0];
}
template <class T> HK_ALWAYS_INLINE void transpose_inplace(typename Vec<T>::V* r) {
    using S = Shuf<T>;
    constexpr int L = S::L;
    constexpr typename S::I lo = S::mask(false), hi = S::mask(true);
#pragma GCC unroll 8
    for (int stage = 1; stage < L; stage *= 2) {
        typename Vec<T>::V n[L];
#pragma GCC unroll 16
        for (int i = 0; i < L / 2; ++i) {
            n[2 * i] = __builtin_shuffle(r[i], r[i + L / 2], lo);
            n[2 * i + 1] = __builtin_shuffle(r[i], r[i + L / 2], hi);
        }
#pragma GCC unroll 16
        for (int i = 0; i < L; ++i) r[i] = n[i];
    }
}
