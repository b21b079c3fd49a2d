// halkit native kernels: the implementation, written once with GCC/Clang vector
// extensions and compiled once per ISA.  The including translation unit defines
//   HALKIT_ISA_NS      namespace name (portable / avx2 / avx512)
//   HALKIT_VBYTES      vector width in bytes (16 / 32 / 64)
//   HALKIT_MR_F32, HALKIT_NV_F32, HALKIT_MR_F64, HALKIT_NV_F64
//                      micro-tile: MR rows x NV vectors
// and is compiled with the matching -m flags.  Nothing here is `inline` at
// namespace scope outside HALKIT_ISA_NS, and no std:: containers are used, so
// the linker can never merge an AVX-512 copy of a function into the portable
// path (the classic multi-ISA ODR trap).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "kernels.hpp"

namespace halkit {
namespace HALKIT_ISA_NS {

#define HK_ALWAYS_INLINE inline __attribute__((always_inline))

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

// ---------------------------------------------------------------- math
// max(x, 0) that keeps NaN (like np.maximum / torch.relu): NaN < 0 is false -> x.
template <class V> HK_ALWAYS_INLINE V v_relu(V x) {
    V z = {};
    return x < z ? z : x;
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
    return p / q;
}

// exp for float32 vectors (Cephes expf: n*ln2 split in two, degree-6 polynomial).
// NaN propagates; very negative (incl. -inf) -> 0; very positive saturates.
HK_ALWAYS_INLINE Vec<float>::V v_exp(Vec<float>::V x) {
    using V = Vec<float>::V;
    using I = Vec<float>::I;
    const V hi = splat<float>(88.3762626647949f), lo = splat<float>(-88.3762626647949f);
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
    I n = __builtin_convertvector(t, I);
    n = (n + 127) << 23;
    V pow2;
    std::memcpy(&pow2, &n, sizeof pow2);
    return y * pow2;
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
template <class T> HK_ALWAYS_INLINE bool any_lane(typename Vec<T>::I m) { return or_fold<T>(m)[0] != 0; }

// Φ(x) = (1 + erf(x/√2)) / 2.  For x < -3 the sum cancels (Φ < 1.4e-3) and the
// float rational erf's ~4e-7 absolute error would dominate, so those (rare) lanes
// take libm's erfc instead: Φ(x) = erfc(-x/√2) / 2, accurate to an ulp.
template <class V, class T> HK_ALWAYS_INLINE V v_cdf(V x) {
    constexpr T inv_sqrt2 = T(0.70710678118654752440);
    V c = (v_erf(x * inv_sqrt2) + T(1)) * T(0.5);
    if constexpr (sizeof(T) == 4) {
        auto tail = x < T(-3);
        if (__builtin_expect(any_lane<T>(tail), 0)) {
            for (int l = 0; l < Vec<T>::L; ++l)
                if (tail[l]) c[l] = T(0.5) * std::erfc(-x[l] * inv_sqrt2);
        }
    }
    return c;
}
template <class V, class T> HK_ALWAYS_INLINE V v_gelu(V x) {
    return x * v_cdf<V, T>(x);
}
template <class V, class T> HK_ALWAYS_INLINE V v_gelu_bw(V g, V x) {
    V cdf = v_cdf<V, T>(x);
    V pdf = v_exp(x * x * T(-0.5)) * T(0.39894228040143267794);
    return g * (cdf + x * pdf);
}

template <class T> HK_ALWAYS_INLINE typename Vec<T>::V v_act(typename Vec<T>::V c, int act) {
    if (act == ACT_RELU) return v_relu(c);
    if (act == ACT_GELU) return v_gelu<typename Vec<T>::V, T>(c);
    return c;
}

// ---------------------------------------------------------------- element-wise
// Apply f to every vector; the tail goes through a zero-padded vector so the
// tail uses exactly the same arithmetic as the body (no scalar cliff).
template <class T, class F>
HK_ALWAYS_INLINE void map1(const T* x, T* y, long n, F f) {
    constexpr int L = Vec<T>::L;
    long i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
        storeu(y + i, f(loadu(x + i)));
        storeu(y + i + L, f(loadu(x + i + L)));
    }
    for (; i + L <= n; i += L) storeu(y + i, f(loadu(x + i)));
    if (i < n) {
        alignas(64) T tx[L] = {};
        std::memcpy(tx, x + i, (n - i) * sizeof(T));
        typename Vec<T>::V r = f(loadu(tx));
        storeu(tx, r);
        std::memcpy(y + i, tx, (n - i) * sizeof(T));
    }
}
template <class T, class F>
HK_ALWAYS_INLINE void map2(const T* a, const T* b, T* y, long n, F f) {
    constexpr int L = Vec<T>::L;
    long i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
        storeu(y + i, f(loadu(a + i), loadu(b + i)));
        storeu(y + i + L, f(loadu(a + i + L), loadu(b + i + L)));
    }
    for (; i + L <= n; i += L) storeu(y + i, f(loadu(a + i), loadu(b + i)));
    if (i < n) {
        alignas(64) T ta[L] = {}, tb[L] = {};
        std::memcpy(ta, a + i, (n - i) * sizeof(T));
        std::memcpy(tb, b + i, (n - i) * sizeof(T));
        storeu(ta, f(loadu(ta), loadu(tb)));
        std::memcpy(y + i, ta, (n - i) * sizeof(T));
    }
}

template <class T> void k_relu(const T* x, T* y, long n) {
    map1(x, y, n, [](typename Vec<T>::V v) { return v_relu(v); });
}
template <class T> void k_gelu(const T* x, T* y, long n) {
    map1(x, y, n, [](typename Vec<T>::V v) { return v_gelu<typename Vec<T>::V, T>(v); });
}
template <class T> void k_add(const T* a, const T* b, T* y, long n) {
    map2(a, b, y, n, [](typename Vec<T>::V u, typename Vec<T>::V v) { return u + v; });
}
template <class T> void k_mul(const T* a, const T* b, T* y, long n) {
    map2(a, b, y, n, [](typename Vec<T>::V u, typename Vec<T>::V v) { return u * v; });
}
template <class T> void k_relu_bw(const T* g, const T* x, T* y, long n) {
    // torch's threshold_backward: 0 where x <= 0 (even for a NaN/inf grad), grad elsewhere (NaN x keeps grad).
    map2(g, x, y, n, [](typename Vec<T>::V u, typename Vec<T>::V v) {
        typename Vec<T>::V z = {};
        return v <= z ? z : u;
    });
}
template <class T> void k_gelu_bw(const T* g, const T* x, T* y, long n) {
    map2(g, x, y, n, [](typename Vec<T>::V u, typename Vec<T>::V v) { return v_gelu_bw<typename Vec<T>::V, T>(u, v); });
}
template <class T> void k_add_bias(const T* x, const T* b, T* y, long rows, long n) {
    for (long r = 0; r < rows; ++r) k_add<T>(x + r * n, b, y + r * n, n);
}

template <class T> void k_sum_rows(const T* x, long rows, long ncols, long ld, T* out) {
    // Two-level summation (blocks of 64 rows) keeps the fp32 error ~(64 + rows/64) eps.
    constexpr int L = Vec<T>::L;
    using V = typename Vec<T>::V;
    constexpr long CW = 8 * L;  // columns per chunk: 8 vectors of accumulators
    for (long c0 = 0; c0 < ncols; c0 += CW) {
        long cw = hmin(CW, ncols - c0);
        alignas(64) T tot[CW] = {};
        if (cw == CW) {
            V t[8] = {};
            for (long r0 = 0; r0 < rows; r0 += 64) {
                long r1 = hmin(rows, r0 + 64);
                V s[8] = {};
                for (long r = r0; r < r1; ++r) {
                    const T* p = x + r * ld + c0;
#pragma GCC unroll 8
                    for (int v = 0; v < 8; ++v) s[v] += loadu(p + v * L);
                }
#pragma GCC unroll 8
                for (int v = 0; v < 8; ++v) t[v] += s[v];
            }
            for (int v = 0; v < 8; ++v) storeu(out + c0 + v * L, t[v]);
        } else {
            for (long r0 = 0; r0 < rows; r0 += 64) {
                long r1 = hmin(rows, r0 + 64);
                alignas(64) T s[CW] = {};
                for (long r = r0; r < r1; ++r)
                    for (long j = 0; j < cw; ++j) s[j] += x[r * ld + c0 + j];
                for (long j = 0; j < cw; ++j) tot[j] += s[j];
            }
            std::memcpy(out + c0, tot, cw * sizeof(T));
        }
    }
}

template <class T> void k_softmax(const T* x, T* y, long rows, long n) {
    constexpr int L = Vec<T>::L;
    using V = typename Vec<T>::V;
    const T ninf = -INFINITY;
    for (long r = 0; r < rows; ++r) {
        const T* xr = x + r * n;
        T* yr = y + r * n;
        // max with NaN detection (numpy: any NaN in the row -> NaN max -> NaN row)
        V m = splat<T>(ninf);
        typename Vec<T>::I nanv = {};
        long i = 0;
        for (; i + L <= n; i += L) {
            V v = loadu(xr + i);
            m = v > m ? v : m;
            nanv |= v != v;
        }
        bool nan = any_lane<T>(nanv);
        T mx = ninf;
        for (int l = 0; l < L; ++l) mx = m[l] > mx ? m[l] : mx;
        for (; i < n; ++i) {
            T v = xr[i];
            if (v != v) nan = true;
            mx = v > mx ? v : mx;
        }
        if (nan) {
            for (long j = 0; j < n; ++j) yr[j] = NAN;
            continue;
        }
        V vm = splat<T>(mx);
        T sum;
        {
            V s = {};
            i = 0;
            for (; i + L <= n; i += L) {
                V e = v_exp(loadu(xr + i) - vm);
                storeu(yr + i, e);
                s += e;
            }
            sum = 0;
            for (int l = 0; l < L; ++l) sum += s[l];
            if (i < n) {
                alignas(64) T t[L];
                for (int l = 0; l < L; ++l) t[l] = ninf;
                std::memcpy(t, xr + i, (n - i) * sizeof(T));
                V e = v_exp(loadu(t) - vm);
                storeu(t, e);
                for (long j = 0; j < n - i; ++j) sum += t[j];
                std::memcpy(yr + i, t, (n - i) * sizeof(T));
            }
        }
        V vs = splat<T>(sum);
        map1(yr, yr, n, [vs](V v) { return v / vs; });
    }
}

template <class T>
void k_layer_norm(const T* x, const T* w, const T* b, double eps, T* y, long rows, long n) {
    constexpr int L = Vec<T>::L;
    using V = typename Vec<T>::V;
    for (long r = 0; r < rows; ++r) {
        const T* xr = x + r * n;
        T* yr = y + r * n;
        V s0 = {}, s1 = {};
        long i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            s0 += loadu(xr + i);
            s1 += loadu(xr + i + L);
        }
        for (; i + L <= n; i += L) s0 += loadu(xr + i);
        s0 += s1;
        T sum = 0;
        for (int l = 0; l < L; ++l) sum += s0[l];
        for (; i < n; ++i) sum += xr[i];
        T mean = sum / T(n);
        V vm = splat<T>(mean);
        V q0 = {}, q1 = {};
        i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            V d0 = loadu(xr + i) - vm, d1 = loadu(xr + i + L) - vm;
            q0 += d0 * d0;
            q1 += d1 * d1;
        }
        for (; i + L <= n; i += L) {
            V d0 = loadu(xr + i) - vm;
            q0 += d0 * d0;
        }
        q0 += q1;
        T sq = 0;
        for (int l = 0; l < L; ++l) sq += q0[l];
        for (; i < n; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
        T var = sq / T(n);
        T denom = std::sqrt(var + T(eps));
        V vd = splat<T>(denom);
        map1(xr, yr, n, [vm, vd](V v) { return (v - vm) / vd; });
        if (w) k_mul<T>(yr, w, yr, n);
        if (b) k_add<T>(yr, b, yr, n);
    }
}

// ---------------------------------------------------------------- GEMM
template <class T> struct Cfg;
template <> struct Cfg<float> {
    static constexpr int L = Vec<float>::L, MR = HALKIT_MR_F32, NV = HALKIT_NV_F32, NR = L * NV;
    // Measured on Zen4 (1 MiB L2): KC 512 / MC 144 beat the textbook "B micro-panel
    // in half of L1" sizing (KC 128: -10..15%); the packed A block (MC x KC, 288 KiB) stays in L2.
    static constexpr long KC = 512, MC = (144 / MR) * MR, NC = 4096;
};
template <> struct Cfg<double> {
    static constexpr int L = Vec<double>::L, MR = HALKIT_MR_F64, NV = HALKIT_NV_F64, NR = L * NV;
    static constexpr long KC = 384, MC = (96 / MR) * MR, NC = 2048;
};

enum : int { F_ACC = 1, F_LAST = 2 };

template <class T> void k_relu(const T* x, T* y, long n);
template <class T> void k_gelu(const T* x, T* y, long n);
template <class T> __attribute__((noinline)) void act_tile(T* C, long ldc, int rows, int n, int act) {
    for (int i = 0; i < rows; ++i) {
        T* cp = C + i * ldc;
        if (act == ACT_RELU) k_relu<T>(cp, cp, n);
        else k_gelu<T>(cp, cp, n);
    }
}

// Partial tile (n < NR columns valid): C[:, :n] (+)= tile, then bias/activation.
template <class T, int NR>
__attribute__((noinline)) void edge_store(const T* tile, int rows, T* C, long ldc, int n, bool accum, bool last,
                                          const T* bias, int act) {
    using V = typename Vec<T>::V;
    constexpr int L = Vec<T>::L;
    alignas(64) T tb[NR] = {};
    if (last && bias) std::memcpy(tb, bias, n * sizeof(T));
    for (int i = 0; i < rows; ++i) {
        alignas(64) T tc[NR] = {};
        T* cp = C + i * ldc;
        if (accum) std::memcpy(tc, cp, n * sizeof(T));
        for (int v = 0; v < NR / L; ++v) {
            V c = loadu(tile + i * NR + v * L) + loadu(tc + v * L);
            if (last) c = v_act<T>(c + loadu(tb + v * L), act);
            storeu(tc + v * L, c);
        }
        std::memcpy(cp, tc, n * sizeof(T));
    }
}

// One MRxNR tile of C (only `rows` <= MRP rows, `n` <= NR columns valid).
// A: packed, MRP values per k.  B: NR contiguous values per k, k-stride ldbk
// (NR for a packed panel, ldb when streaming B straight from the caller's buffer).
// KS independent accumulator sets hide the FMA latency when the tile is small.
template <class T, int ROWS, int MRP, int NV, int KS>
__attribute__((noinline)) void ukernel(long kc, const T* __restrict A, const T* __restrict B, long ldbk,
                                       T* __restrict C, long ldc, int n, int flags, const T* __restrict bias,
                                       int act) {
    using V = typename Vec<T>::V;
    constexpr int L = Vec<T>::L;
    constexpr int NR = L * NV;
    V acc[KS][ROWS][NV];
#pragma GCC unroll 64
    for (int s = 0; s < KS; ++s)
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 64
            for (int v = 0; v < NV; ++v) acc[s][i][v] = V{};
    long k = 0;
    if (KS > 1) {
        for (; k + KS <= kc; k += KS) {
#pragma GCC unroll 64
            for (int s = 0; s < KS; ++s) {
                const T* bp = B + (k + s) * ldbk;
                const T* ap = A + (k + s) * MRP;
                V b[NV];
#pragma GCC unroll 64
                for (int v = 0; v < NV; ++v) b[v] = loadu(bp + v * L);
#pragma GCC unroll 64
                for (int i = 0; i < ROWS; ++i) {
                    V a = splat<T>(ap[i]);
#pragma GCC unroll 64
                    for (int v = 0; v < NV; ++v) acc[s][i][v] += a * b[v];
                }
            }
        }
    }
    for (; k < kc; ++k) {
        const T* bp = B + k * ldbk;
        const T* ap = A + k * MRP;
        V b[NV];
#pragma GCC unroll 64
        for (int v = 0; v < NV; ++v) b[v] = loadu(bp + v * L);
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i) {
            V a = splat<T>(ap[i]);
#pragma GCC unroll 64
            for (int v = 0; v < NV; ++v) acc[0][i][v] += a * b[v];
        }
    }
#pragma GCC unroll 64
    for (int s = 1; s < KS; ++s)
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 64
            for (int v = 0; v < NV; ++v) acc[0][i][v] += acc[s][i][v];

    // Fused epilogue: accumulate previous K blocks, then bias + activation on the
    // last one.  relu is applied in registers; gelu may call libm (erf/erfc), and
    // any call in this function makes GCC keep accumulators in memory in the hot
    // loop, so gelu runs out of line on the freshly stored tile (still in L1).
    const bool accum = flags & F_ACC, last = flags & F_LAST;
    const bool relu = act == ACT_RELU;
    if (n == NR) {
        V bv[NV] = {};
        if (last && bias) {
#pragma GCC unroll 64
            for (int v = 0; v < NV; ++v) bv[v] = loadu(bias + v * L);
        }
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 64
            for (int v = 0; v < NV; ++v) {
                T* cp = C + i * ldc + v * L;
                V c = acc[0][i][v];
                if (accum) c += loadu(cp);
                if (last) {
                    if (bias) c += bv[v];
                    if (relu) c = v_relu(c);
                }
                storeu(cp, c);
            }
        }
    } else {
        alignas(64) T tile[ROWS * NR];
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 64
            for (int v = 0; v < NV; ++v) storeu(tile + i * NR + v * L, acc[0][i][v]);
        edge_store<T, NR>(tile, ROWS, C, ldc, n, accum, last, bias, relu ? ACT_RELU : ACT_NONE);
    }
    if (last && act == ACT_GELU) act_tile<T>(C, ldc, ROWS, n, act);
}

template <class T>
using UK = void (*)(long, const T*, const T*, long, T*, long, int, int, const T*, int);

template <int R, int NV> constexpr int ks_for() {
    return R * NV >= 8 ? 1 : (R * NV >= 4 ? 2 : 4);
}

template <class T, int... R>
constexpr UK<T> pick(int rows, std::integer_sequence<int, R...>) {
    constexpr UK<T> tab[] = {nullptr, &ukernel<T, R + 1, Cfg<T>::MR, Cfg<T>::NV, ks_for<R + 1, Cfg<T>::NV>()>...};
    return tab[rows];
}
template <class T, int... R>
constexpr UK<T> pick1(int rows, std::integer_sequence<int, R...>) {
    constexpr UK<T> tab[] = {nullptr, &ukernel<T, R + 1, Cfg<T>::MR, 1, ks_for<R + 1, 1>()>...};
    return tab[rows];
}
// Micro-kernel for `rows` rows of a panel whose valid width is `cols`: a panel
// at most one vector wide (N = 10, the last columns of N = 1000) runs the
// one-vector kernel instead of computing NR - L columns of padding.
template <class T> HK_ALWAYS_INLINE UK<T> kernel_for(int rows, int cols = Cfg<T>::NR) {
    if (Cfg<T>::NV > 1 && cols <= Cfg<T>::L) return pick1<T>(rows, std::make_integer_sequence<int, Cfg<T>::MR>{});
    return pick<T>(rows, std::make_integer_sequence<int, Cfg<T>::MR>{});
}

// Kernels for the skinny paths: A packed with stride ROWS (no MR padding).
// GEMV-like streaming for ROWS <= 3 rows and B in (K,N) layout: C rows stay in
// L1 (column chunks of 16 KiB) while B is read row after row, i.e. perfectly
// sequentially, 4 rows of B per pass over the chunk.  ncols is a multiple of L.
template <class T, int ROWS>
__attribute__((noinline)) void gemv_stream(long K, const T* __restrict A, const T* __restrict B, long ldb,
                                           T* __restrict C, long ldc, long ncols, const T* __restrict bias,
                                           int act) {
    using V = typename Vec<T>::V;
    constexpr int L = Vec<T>::L;
    constexpr long JC = (4096 / sizeof(T) * 4 / ROWS) / (2 * L) * (2 * L);
    for (long jc = 0; jc < ncols; jc += JC) {
        const long jn = hmin(JC, ncols - jc);
        long k = 0;
        for (; k < K; k += 4) {
            const int kk = (int)hmin<long>(4, K - k);
            const T* b0 = B + k * ldb + jc;
            if (kk == 4) {
                V a[ROWS][4];
#pragma GCC unroll 4
                for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
                    for (int q = 0; q < 4; ++q) a[i][q] = splat<T>(A[(k + q) * ROWS + i]);
                for (long j = 0; j < jn; j += L) {
                    V b[4];
#pragma GCC unroll 4
                    for (int q = 0; q < 4; ++q) b[q] = loadu(b0 + q * ldb + j);
#pragma GCC unroll 4
                    for (int i = 0; i < ROWS; ++i) {
                        T* cp = C + i * ldc + jc + j;
                        V y = k ? loadu(cp) : V{};
#pragma GCC unroll 4
                        for (int q = 0; q < 4; ++q) y += a[i][q] * b[q];
                        storeu(cp, y);
                    }
                }
            } else {
                for (int q = 0; q < kk; ++q) {
                    V a[ROWS];
#pragma GCC unroll 4
                    for (int i = 0; i < ROWS; ++i) a[i] = splat<T>(A[(k + q) * ROWS + i]);
                    for (long j = 0; j < jn; j += L) {
                        V b = loadu(b0 + q * ldb + j);
#pragma GCC unroll 4
                        for (int i = 0; i < ROWS; ++i) {
                            T* cp = C + i * ldc + jc + j;
                            V y = (k + q) ? loadu(cp) : V{};
                            storeu(cp, y + a[i] * b);
                        }
                    }
                }
            }
        }
        if (bias || act != ACT_NONE) {  // epilogue on the chunk while it is in L1
            for (int i = 0; i < ROWS; ++i) {
                T* cp = C + i * ldc + jc;
                for (long j = 0; j < jn; j += L) {
                    V y = loadu(cp + j);
                    if (bias) y += loadu(bias + jc + j);
                    storeu(cp + j, v_act<T>(y, act));
                }
            }
        }
    }
}
template <class T> using GK = void (*)(long, const T*, const T*, long, T*, long, long, const T*, int);
template <class T> HK_ALWAYS_INLINE GK<T> gemv_for(int rows) {
    constexpr GK<T> tab[] = {nullptr, &gemv_stream<T, 1>, &gemv_stream<T, 2>, &gemv_stream<T, 3>};
    return tab[rows];
}
template <class T, int... R>
constexpr UK<T> pick_narrow(int rows, std::integer_sequence<int, R...>) {
    constexpr UK<T> tab[] = {nullptr, &ukernel<T, R + 1, R + 1, 2, ks_for<R + 1, 2>()>...};
    return tab[rows];
}
constexpr int kGemvRows = 3;  // rows handled by the streaming (GEMV-like) paths

// Dot-product kernel for op(B) = W^T with W (N,K) row-major (the nn.Linear
// layout) and few rows: C[i, j] = <A row i, W row j>, both contiguous in k.
// Streams W exactly once; no packing.
template <class T, int ROWS, int JB>
__attribute__((noinline)) void dot_kernel(long K, const T* const* __restrict ar, const T* __restrict w, long ldw,
                                          T* __restrict C, long ldc, int nj, const T* __restrict bias, int act) {
    using V = typename Vec<T>::V;
    constexpr int L = Vec<T>::L;
    V acc[ROWS][JB];
#pragma GCC unroll 64
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 64
        for (int j = 0; j < JB; ++j) acc[i][j] = V{};
    const T* wr[JB];
    for (int j = 0; j < JB; ++j) wr[j] = w + (j < nj ? j : 0) * ldw;
    long k = 0;
    for (; k + L <= K; k += L) {
        V x[ROWS];
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i) x[i] = loadu(ar[i] + k);
#pragma GCC unroll 64
        for (int j = 0; j < JB; ++j) {
            V wv = loadu(wr[j] + k);
#pragma GCC unroll 64
            for (int i = 0; i < ROWS; ++i) acc[i][j] += x[i] * wv;
        }
    }
    for (int i = 0; i < ROWS; ++i) {
        for (int j = 0; j < nj; ++j) {
            T s = 0;
            for (int l = 0; l < L; ++l) s += acc[i][j][l];
            for (long kk = k; kk < K; ++kk) s += ar[i][kk] * wr[j][kk];
            if (bias) s += bias[j];
            if (act == ACT_RELU) s = s < T(0) ? T(0) : s;
            else if (act == ACT_GELU) s = T(0.5) * s * (T(1) + std::erf(s * T(0.70710678118654752440)));
            C[i * ldc + j] = s;
        }
    }
}
template <class T> using DK = void (*)(long, const T* const*, const T*, long, T*, long, int, const T*, int);
template <class T> HK_ALWAYS_INLINE DK<T> dot_for(int rows) {
    constexpr DK<T> tab[] = {nullptr, &dot_kernel<T, 1, 8>, &dot_kernel<T, 2, 6>, &dot_kernel<T, 3, 4>};
    return tab[rows];
}
constexpr int dot_jb(int rows) { return rows == 1 ? 8 : rows == 2 ? 6 : 4; }

// Pack buffers persist per thread (pool workers are persistent), 64-byte aligned.
struct PackBuf {
    void* p = nullptr;
    size_t cap = 0;
    ~PackBuf() { std::free(p); }
    void* get(size_t bytes) {
        if (bytes + 256 > cap) {
            std::free(p);
            p = nullptr;
            cap = 0;
            // + 256 bytes of slack: pack_A's overlapping vector stores may spill
            // up to one vector past the last panel.
            size_t want = (bytes + 256 + 4095) & ~size_t(4095);
            if (posix_memalign(&p, 64, want) != 0) throw std::bad_alloc();
            cap = want;
        }
        return p;
    }
};
static thread_local PackBuf tl_bufA, tl_bufB;

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
};
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

// Ã: rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) into MR-row panels (k-major), zero padded.
template <class T>
static void pack_A(T* __restrict dst, const GemmProblem<T>& p, long i0, long mc, long k0, long kc) {
    constexpr int MR = Cfg<T>::MR;
    for (long ip = 0; ip < mc; ip += MR) {
        int mr = (int)hmin<long>(MR, mc - ip);
        T* d = dst + ip * kc;
        if (!p.ta) {
            const T* src[MR];
            for (int i = 0; i < MR; ++i) src[i] = p.a + (i0 + ip + (i < mr ? i : 0)) * p.lda + k0;
            if (mr == MR) {
                long k = 0;
                constexpr int L = Vec<T>::L;
                if constexpr (MR <= L) {
                    // L x L transpose of MR real rows (+ L-MR dummies), stored with
                    // overlapping full-vector stores in increasing k: each store's
                    // L-MR spill is overwritten by the next one (the buffer has slack).
                    for (; k + L <= kc; k += L) {
                        typename Vec<T>::V r[L];
#pragma GCC unroll 16
                        for (int q = 0; q < L; ++q) r[q] = loadu(src[q < MR ? q : 0] + k);
                        transpose_inplace<T>(r);
#pragma GCC unroll 16
                        for (int q = 0; q < L; ++q) storeu(d + (k + q) * MR, r[q]);
                    }
                }
                for (; k < kc; ++k)
#pragma GCC unroll 16
                    for (int i = 0; i < MR; ++i) d[k * MR + i] = src[i][k];
            } else {
                for (long k = 0; k < kc; ++k)
                    for (int i = 0; i < MR; ++i) d[k * MR + i] = i < mr ? src[i][k] : T(0);
            }
        } else {
            for (long k = 0; k < kc; ++k) {
                const T* s = p.a + (k0 + k) * p.lda + i0 + ip;
                for (int i = 0; i < MR; ++i) d[k * MR + i] = i < mr ? s[i] : T(0);
            }
        }
    }
}

// B̃: rows [k0, k0+kc) x cols [j0, j0+nc) of op(B) into NR-column panels, zero padded.
template <class T>
static void pack_B(T* __restrict dst, const GemmProblem<T>& p, long k0, long kc, long j0, long nc) {
    constexpr int NR = Cfg<T>::NR;
    for (long jp = 0; jp < nc; jp += NR) {
        int nr = (int)hmin<long>(NR, nc - jp);
        T* d = dst + jp * kc;
        if (!p.tb) {
            for (long k = 0; k < kc; ++k) {
                const T* s = p.b + (k0 + k) * p.ldb + j0 + jp;
                if (nr == NR) {
                    std::memcpy(d + k * NR, s, NR * sizeof(T));
                } else {
                    for (int j = 0; j < NR; ++j) d[k * NR + j] = j < nr ? s[j] : T(0);
                }
            }
        } else {
            // B(k, j) = b[j*ldb + k]: L x L in-register transposes (log2 L interleave
            // stages), rows j of W read contiguously along k.
            const T* src[NR];
            for (int j = 0; j < NR; ++j) src[j] = p.b + (j0 + jp + (j < nr ? j : 0)) * p.ldb + k0;
            constexpr int L = Vec<T>::L;
            long k = 0;
            for (; k + L <= kc; k += L) {
#pragma GCC unroll 4
                for (int v = 0; v < NR / L; ++v) {
                    typename Vec<T>::V r[L];
#pragma GCC unroll 16
                    for (int q = 0; q < L; ++q)  // rows past the edge are zero padding
                        r[q] = v * L + q < nr ? loadu(src[v * L + q] + k) : typename Vec<T>::V{};
                    transpose_inplace<T>(r);
#pragma GCC unroll 16
                    for (int q = 0; q < L; ++q) storeu(d + (k + q) * NR + v * L, r[q]);
                }
            }
            for (; k < kc; ++k)
                for (int j = 0; j < NR; ++j) d[k * NR + j] = j < nr ? src[j][k] : T(0);
        }
    }
}

template <class T>
void k_gemm(const GemmProblem<T>& p, long m0, long m1, long n0, long n1) {
    using C = Cfg<T>;
    constexpr int MR = C::MR, NR = C::NR;
    const long M = m1 - m0, N = n1 - n0, K = p.K;
    if (M <= 0 || N <= 0) return;
    T* Cb = p.c + m0 * p.ldc + n0;
    const T* bias = p.bias ? p.bias + n0 : nullptr;
    if (K == 0) {
        for (long i = 0; i < M; ++i) {
            T* row = Cb + i * p.ldc;
            if (bias) std::memcpy(row, bias, N * sizeof(T));
            else std::memset(row, 0, N * sizeof(T));
            if (p.act == ACT_RELU) k_relu<T>(row, row, N);
            else if (p.act == ACT_GELU) k_gelu<T>(row, row, N);
        }
        return;
    }
    // A few rows: GEMV-like streaming paths, B read exactly once, no B packing.
    if (M <= kGemvRows) {
        if (!p.tb) {
            T* Ap = (T*)tl_bufA.get(M * K * sizeof(T));
            for (long k = 0; k < K; ++k)
                for (long i = 0; i < M; ++i)
                    Ap[k * M + i] = p.ta ? p.a[k * p.lda + m0 + i] : p.a[(m0 + i) * p.lda + k];
            const UK<T> narrow = pick_narrow<T>((int)M, std::make_integer_sequence<int, kGemvRows>{});
            constexpr int L = C::L;
            const long nmain = N / L * L;
            if (nmain) gemv_for<T>((int)M)(K, Ap, p.b + n0, p.ldb, Cb, p.ldc, nmain, bias, p.act);
            if (nmain < N) {  // < L columns left: zero-padded B edge panel + narrow micro-kernel
                int nr = (int)(N - nmain);
                const long KE = 4096;  // K blocks keep the edge panel <= 4096 x NR
                T* Be = (T*)tl_bufB.get(hmin(K, KE) * NR * sizeof(T));
                for (long pc = 0; pc < K; pc += KE) {
                    long kc = hmin(KE, K - pc);
                    int flags = (pc > 0 ? F_ACC : 0) | (pc + kc == K ? F_LAST : 0);
                    pack_B(Be, p, pc, kc, n0 + nmain, nr);
                    narrow(kc, Ap + pc * M, Be, NR, Cb + nmain, p.ldc, nr, flags, bias ? bias + nmain : nullptr,
                           p.act);
                }
            }
        } else {
            const T* ar[kGemvRows];
            if (!p.ta) {
                for (long i = 0; i < M; ++i) ar[i] = p.a + (m0 + i) * p.lda;
            } else {  // gather the few columns of a into contiguous rows
                T* Ap = (T*)tl_bufA.get(M * K * sizeof(T));
                for (long k = 0; k < K; ++k)
                    for (long i = 0; i < M; ++i) Ap[i * K + k] = p.a[k * p.lda + m0 + i];
                for (long i = 0; i < M; ++i) ar[i] = Ap + i * K;
            }
            const DK<T> dk = dot_for<T>((int)M);
            const int jb = dot_jb((int)M);
            for (long j = 0; j < N; j += jb) {
                int nj = (int)hmin<long>(jb, N - j);
                dk(K, ar, p.b + (n0 + j) * p.ldb, p.ldb, Cb + j, p.ldc, nj, bias ? bias + j : nullptr, p.act);
            }
        }
        return;
    }
    // Up to 6 x MR rows with B in (K,N) layout: read B in place from the caller's
    // buffer (no B packing; measured 64x1024x1024: 88 -> ~100 GFLOP/s, 64^3 ~8% faster).
    if (!p.tb && M <= 6 * MR) {
        const long KCs = 512;
        long mpad = (M + MR - 1) / MR * MR;
        T* Ap = (T*)tl_bufA.get(mpad * KCs * sizeof(T));
        T* Be = (T*)tl_bufB.get(KCs * NR * sizeof(T));
        for (long pc = 0; pc < K; pc += KCs) {
            long kc = hmin(KCs, K - pc);
            int flags = (pc > 0 ? F_ACC : 0) | (pc + kc == K ? F_LAST : 0);
            pack_A(Ap, p, m0, M, pc, kc);
            for (long jr = 0; jr < N; jr += NR) {
                int nr = (int)hmin<long>(NR, N - jr);
                const T* Bp;
                long ldbk;
                if (nr == NR) {
                    Bp = p.b + pc * p.ldb + n0 + jr;
                    ldbk = p.ldb;
                } else {
                    pack_B(Be, p, pc, kc, n0 + jr, nr);
                    Bp = Be;
                    ldbk = NR;
                }
                for (long ir = 0; ir < M; ir += MR) {
                    int mr = (int)hmin<long>(MR, M - ir);
                    kernel_for<T>(mr, nr)(kc, Ap + ir * kc, Bp, ldbk, Cb + ir * p.ldc + jr, p.ldc, nr, flags,
                                      bias ? bias + jr : nullptr, p.act);
                }
            }
        }
        return;
    }
    // Goto/BLIS: NC-wide B̃ panel (L3), MCxKC Ã block (L2), KCxNR B micro-panel (L1).
    const long MCb = C::MC, NCb = C::NC;
    // K blocks of equal size (K = 513 -> 257 + 256, not 512 + 1)
    const long nkb = (K + C::KC - 1) / C::KC;
    const long KCb = (K + nkb - 1) / nkb;
    T* Bp = (T*)tl_bufB.get(KCb * ((hmin(NCb, N) + NR - 1) / NR * NR) * sizeof(T));
    T* Ap = (T*)tl_bufA.get(KCb * ((hmin(MCb, M) + MR - 1) / MR * MR) * sizeof(T));
    for (long jc = 0; jc < N; jc += NCb) {
        long nc = hmin(NCb, N - jc);
        for (long pc = 0; pc < K; pc += KCb) {
            long kc = hmin(KCb, K - pc);
            int flags = (pc > 0 ? F_ACC : 0) | (pc + kc == K ? F_LAST : 0);
            pack_B(Bp, p, pc, kc, n0 + jc, nc);
            for (long ic = 0; ic < M; ic += MCb) {
                long mc = hmin(MCb, M - ic);
                pack_A(Ap, p, m0 + ic, mc, pc, kc);
                for (long jr = 0; jr < nc; jr += NR) {
                    int nr = (int)hmin<long>(NR, nc - jr);
                    const T* bj = bias ? bias + jc + jr : nullptr;
                    for (long ir = 0; ir < mc; ir += MR) {
                        int mr = (int)hmin<long>(MR, mc - ir);
                        kernel_for<T>(mr, nr)(kc, Ap + ir * kc, Bp + jr * kc, NR, Cb + (ic + ir) * p.ldc + jc + jr,
                                          p.ldc, nr, flags, bj, p.act);
                    }
                }
            }
        }
    }
}

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
    return KernelSet<T>{&k_gemm<T>,    &k_relu<T>,     &k_gelu<T>,       &k_add<T>,
                        &k_mul<T>,     &k_relu_bw<T>,  &k_gelu_bw<T>,    &k_add_bias<T>,
                        &k_softmax<T>, &k_layer_norm<T>, &k_sum_rows<T>, Cfg<T>::MR,
                        Cfg<T>::NR};
}

}  // namespace HALKIT_ISA_NS
}  // namespace halkit
