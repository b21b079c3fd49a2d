// GEMM: C = act(op(A) op(B) + bias), row-major, one ISA.  Included by
// kernels_impl.hpp inside namespace halkit::HALKIT_ISA_NS.
//
// Three paths, by shape (M rows of C, N columns, K inner):
//   * M <= 3 (4 for     GEMV-like: B streamed exactly once, no B packing
//     (K,N) B)          ((K,N) B: row-sequential; trans_b: dot products).
//   * M <= 72           skinny: (K,N) B: the micro-kernel reads B in place (no pack pass;
//                       far prefetch into L2), and the first row panel also copies
//                       each B micro-panel to a contiguous buffer the other row
//                       panels reuse (a power-of-two ldb would otherwise alias in
//                       the caches: 32x1024x1024 ran at 87 instead of 149 GFLOP/s).
//                       W^T B: computed as C^T = W op(A)^T, W read in place and the small
//                       op(A) transposed (transposed_chunk); where that does not pay,
//                       each micro-panel of W transposed into an L1 buffer once.
//   * otherwise         packed (Goto/BLIS): per K block, A in MR-row panels and B in
//                       NR-column panels; the MR x KC A micro-panel stays in L1 while
//                       B micro-panels stream from an L2-sized block.  With threads,
//                       each computes a contiguous range of rows with its own packed
//                       A and B (no barrier, B in its own L2).
// All paths split N (and, for the packed path, M) over the thread pool above a
// minimum amount of work; every kernel fuses bias + activation into its last store.

template <class T> struct Cfg;
template <> struct Cfg<float> {
    static constexpr int L = Vec<float>::L, MR = HALKIT_MR_F32, NV = HALKIT_NV_F32, NR = L * NV;
    // KC: the A micro-panel (MR x KC) is half of a 48 KiB L1d.  NB: the most
    // columns of a B block (KC x NB: half of a 2 MiB L2; see block_columns).
    // M3: rows of A per packed block.
    static constexpr long KC = 512, NB = 512, M3 = 2048;
    static constexpr long KCS = 256;  // K block of the skinny path: its B copy (KCS x NR) stays in L1
};
template <> struct Cfg<double> {
    static constexpr int L = Vec<double>::L, MR = HALKIT_MR_F64, NV = HALKIT_NV_F64, NR = L * NV;
    static constexpr long KC = 256, NB = 512, M3 = 1024, KCS = 128;
};

// F_ACC: add to C; F_LAST: last K block (bias + activation); F_RBIAS: bias[i] per row.
enum : int { F_ACC = 1, F_LAST = 2, F_RBIAS = 4 };
// How the micro-kernel finds B: packed panel, in place in the caller's array,
// or in place while copying the panel out for the next row panels.
// B_NEAR: in place and already in cache (small problems): no far prefetch.
enum : int { B_PACKED = 0, B_INPLACE = 1, B_COPY = 2, B_NEAR = 3 };

// Prefetch distances in k steps (each step is one MR x NR rank-1 update, ~12 cycles
// on AVX-512).  PFB: B into L1; PF2: in-place B from memory/L3 into L2; PFA: A;
// PFC: the C tile is prefetched for writing this many steps before the end.
constexpr long PFB = 8, PF2 = 40, PFA = 16, PFC = 32;
#ifndef HK_DK
#define HK_DK 256
#endif
#ifndef HK_DB
#define HK_DB (256 << 10)
#endif

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
                                          const T* bias, bool rbias, int act) {
    using V = typename Vec<T>::V;
    constexpr int L = Vec<T>::L;
    alignas(64) T tb[NR] = {};
    if (last && bias && !rbias) std::memcpy(tb, bias, n * sizeof(T));
    for (int i = 0; i < rows; ++i) {
        alignas(64) T tc[NR] = {};
        T* cp = C + i * ldc;
        if (accum) std::memcpy(tc, cp, n * sizeof(T));
        for (int v = 0; v < NR / L; ++v) {
            V c = loadu(tile + i * NR + v * L) + loadu(tc + v * L);
            if (last) c = v_act<T>(c + (rbias && bias ? splat<T>(bias[i]) : loadu(tb + v * L)), act);
            storeu(tc + v * L, c);
        }
        std::memcpy(cp, tc, n * sizeof(T));
    }
}

// One ROWS x (NV vectors) tile of C; only `n` <= NR columns valid.
// A: packed, MRP values per k; or read in place: with MRP == 0 row i at A + i * lda
// (row-major), with MRP == -1 column i at A + i, k-stride lda (op(A) = a stored transposed).
// B: NR contiguous values per k, k-stride ldbk.
// KS independent accumulator sets hide the FMA latency when the tile is small.
// BM == B_COPY also writes each B row slice to bcopy (k-stride NR).
template <class T, int ROWS, int MRP, int NV, int KS, int BM>
__attribute__((noinline)) void ukernel(long kc, const T* __restrict A, long lda, const T* __restrict B, long ldbk,
                                       T* __restrict C, long ldc, int n, int flags, const T* __restrict bias, int act,
                                       T* __restrict bcopy) {
    using V = typename Vec<T>::V;
    constexpr int L = Vec<T>::L;
    constexpr int NR = L * NV;
    constexpr int LINE = 64 / sizeof(T);
    constexpr int BLINES = (NR + LINE - 1) / LINE;
    V acc[KS][ROWS][NV];
#pragma GCC unroll 64
    for (int s = 0; s < KS; ++s)
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 64
            for (int v = 0; v < NV; ++v) acc[s][i][v] = V{};

// one rank-1 update at step kk into accumulator set s
#define HK_UK_STEP(kk, s)                                                                   \
    do {                                                                                    \
        const T* bp = B + (kk) * ldbk;                                                      \
        _Pragma("GCC unroll 8") for (int l = 0; l < BLINES; ++l) {                          \
            __builtin_prefetch(bp + PFB * ldbk + l * LINE, 0, 3);                           \
            if (BM == B_INPLACE || BM == B_COPY)                                            \
                __builtin_prefetch(bp + PF2 * ldbk + l * LINE, 0, 2);                       \
        }                                                                                   \
        if (MRP > 0) __builtin_prefetch(A + ((kk) + PFA) * MRP, 0, 3);                      \
        if (MRP < 0) __builtin_prefetch(A + ((kk) + PFA) * lda, 0, 3);                      \
        V b[NV];                                                                            \
        _Pragma("GCC unroll 64") for (int v = 0; v < NV; ++v) {                             \
            b[v] = loadu(bp + v * L);                                                       \
            if (BM == B_COPY) storeu(bcopy + (kk) * NR + v * L, b[v]);                      \
        }                                                                                   \
        const T* ap = A + (kk) * (MRP > 0 ? MRP : MRP < 0 ? lda : 1);                       \
        _Pragma("GCC unroll 64") for (int i = 0; i < ROWS; ++i) {                           \
            V a = splat<T>(MRP != 0 ? ap[i] : arow(i, kk));                                 \
            _Pragma("GCC unroll 64") for (int v = 0; v < NV; ++v) acc[s][i][v] += a * b[v]; \
        }                                                                                   \
    } while (0)

    // In-place A (MRP == 0): rows 4q..4q+3 are read as base_q + {0, 1, 2, 3} * lda,
    // three base pointers and two strides in registers, x86 scaled addressing.
    const char* const abase[3] = {(const char*)A, MRP == 0 ? (const char*)(A + 4 * lda) : nullptr,
                                  MRP == 0 ? (const char*)(A + 8 * lda) : nullptr};
    const long lb = lda * long(sizeof(T)), l3 = 3 * lb;
    auto arow = [&](int i, long kk) __attribute__((always_inline)) {
        const char* r = abase[i / 4] + kk * long(sizeof(T));
        const long off = i % 4 == 0 ? 0 : i % 4 == 1 ? lb : i % 4 == 2 ? 2 * lb : l3;
        return *(const T*)(r + off);
    };
    long k = 0;
    const long kpf = kc > PFC ? kc - PFC : 0;
    for (int pass = 0; pass < 2; ++pass) {
        const long kend = pass == 0 ? kpf : kc;
        if (pass == 1) {  // the tile is stored soon: fetch its lines for writing
#pragma GCC unroll 64
            for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 8
                for (int l = 0; l < BLINES; ++l) __builtin_prefetch(C + i * ldc + l * LINE, 1, 3);
        }
        if (KS > 1) {
            for (; k + KS <= kend; k += KS) {
#pragma GCC unroll 64
                for (int s = 0; s < KS; ++s) HK_UK_STEP(k + s, s);
            }
        }
#pragma GCC unroll 4
        for (; k < kend; ++k) HK_UK_STEP(k, 0);
    }
#undef HK_UK_STEP
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
    const bool accum = flags & F_ACC, last = flags & F_LAST, rbias = flags & F_RBIAS;
    const bool relu = act == ACT_RELU;
    if (n == NR) {
        V bv[NV] = {};
        if (last && bias && !rbias) {
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
                    if (bias) c += rbias ? splat<T>(bias[i]) : bv[v];
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
        edge_store<T, NR>(tile, ROWS, C, ldc, n, accum, last, bias, rbias, relu ? ACT_RELU : ACT_NONE);
    }
    if (last && act == ACT_GELU) act_tile<T>(C, ldc, ROWS, n, act);
}

template <class T>
using UK = void (*)(long, const T*, long, const T*, long, T*, long, int, int, const T*, int, T*);

template <int R, int NV> constexpr int ks_for() {
    return R * NV >= 8 ? 1 : (R * NV >= 4 ? 2 : 4);
}
template <class T, int NV, int BM, int... R>
constexpr UK<T> pick(int rows, std::integer_sequence<int, R...>) {
    constexpr UK<T> tab[] = {nullptr, &ukernel<T, R + 1, Cfg<T>::MR, NV, ks_for<R + 1, NV>(), BM>...};
    return tab[rows];
}
// Micro-kernel for `rows` rows of a panel whose valid width is `cols`: a panel
// at most one vector wide (N = 10, the last columns of N = 1000) runs the
// one-vector kernel instead of computing NR - L columns of padding.
template <class T> HK_ALWAYS_INLINE UK<T> kernel_for(int rows, int cols = Cfg<T>::NR) {
    if (Cfg<T>::NV > 1 && cols <= Cfg<T>::L)
        return pick<T, 1, B_PACKED>(rows, std::make_integer_sequence<int, Cfg<T>::MR>{});
    return pick<T, Cfg<T>::NV, B_PACKED>(rows, std::make_integer_sequence<int, Cfg<T>::MR>{});
}
// Full-width micro-kernel reading B in place (BM = B_INPLACE or B_COPY).
template <class T, int BM> HK_ALWAYS_INLINE UK<T> inplace_kernel_for(int rows) {
    return pick<T, Cfg<T>::NV, BM>(rows, std::make_integer_sequence<int, Cfg<T>::MR>{});
}
// A read in place: row-major (MRP = 0) or transposed (MRP = -1); B in place (B_NEAR:
// already in cache, rows ldbk apart) or a packed edge panel (B_PACKED).
template <class T, int MRPV, int NV, int BM, int... R>
constexpr UK<T> pick_inplace_a(int rows, std::integer_sequence<int, R...>) {
    constexpr UK<T> tab[] = {nullptr, &ukernel<T, R + 1, MRPV, NV, ks_for<R + 1, NV>(), BM>...};
    return tab[rows];
}
template <class T, int BM, int MRPV = 0> HK_ALWAYS_INLINE UK<T> direct_kernel_for(int rows, int cols = Cfg<T>::NR) {
    if (Cfg<T>::NV > 1 && cols <= Cfg<T>::L)
        return pick_inplace_a<T, MRPV, 1, BM>(rows, std::make_integer_sequence<int, Cfg<T>::MR>{});
    return pick_inplace_a<T, MRPV, Cfg<T>::NV, BM>(rows, std::make_integer_sequence<int, Cfg<T>::MR>{});
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
    constexpr GK<T> tab[] = {nullptr, &gemv_stream<T, 1>, &gemv_stream<T, 2>, &gemv_stream<T, 3>, &gemv_stream<T, 4>};
    return tab[rows];
}
template <class T, int... R>
constexpr UK<T> pick_narrow(int rows, std::integer_sequence<int, R...>) {
    constexpr UK<T> tab[] = {nullptr, &ukernel<T, R + 1, R + 1, 2, ks_for<R + 1, 2>(), B_PACKED>...};
    return tab[rows];
}
constexpr int kGemvRows = 3;  // rows that stream B (GEMV-like): dot products for W^T at any depth
constexpr int kStreamRows = 4;  // rows gemv_stream takes for (K,N) B (k_gemm)

// Dot-product kernel for op(B) = W^T with W (N,K) row-major (the nn.Linear
// layout) and few rows: C[i, j] = <A row i, W row j>, both contiguous in k.
// Streams W exactly once; no packing of W (an outer-product kernel would have to
// transpose it first: linear 4x1024x1024 ran at a third of matmul's speed).
// xp: the ROWS rows of A interleaved by vectors (k-vector q of row i at
// xp + (q * ROWS + i) * L), so that one k step reads ROWS consecutive vectors:
// rows of A 4 KiB apart all fall into one L1 set, and with the W rows they
// overflowed it (the kernel ran at 40 % of peak).  A K tail (K % L values) is
// one more vector per row, aligned with W's last L values (lanes before the
// tail zero): one vector step instead of up to L - 1 scalar ones per output
// (linear 8x1000x300 ran at half of matmul's speed).  K < L: zero padded.
// ROWS x JB accumulators, ROWS + JB + ROWS x JB <= 31 vector registers.
constexpr long kDotPrefetch = 1024;  // bytes ahead on each W row (same run, 1 thread: linear 3x1024x1024 +20 %)
template <class T, int ROWS, int JB>
__attribute__((noinline)) void dot_kernel(long K, const T* __restrict xp, const T* __restrict w, long ldw,
                                          T* __restrict C, long ldc, int nj, bool accum, const T* __restrict bias,
                                          int act) {
    using V = typename Vec<T>::V;
    constexpr int L = Vec<T>::L;
    V acc[ROWS][JB];
#pragma GCC unroll 64
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 64
        for (int j = 0; j < JB; ++j) acc[i][j] = V{};
    const T* wr[JB];
    for (int j = 0; j < JB; ++j) wr[j] = w + (j < nj ? j : 0) * ldw;
    // acc += the ROWS vectors at xq (in registers: loaded once, not once per W row) x each W row's vector at kw
    auto step = [&](const T* xq, long kw, bool prefetch) __attribute__((always_inline)) {
        V x[ROWS];
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i) x[i] = in_register(loadu(xq + i * L));
#pragma GCC unroll 64
        for (int j = 0; j < JB; ++j) {
            if (prefetch) __builtin_prefetch(wr[j] + kw + kDotPrefetch / sizeof(T), 0, 3);
            const V wv = loadu(wr[j] + kw);
#pragma GCC unroll 64
            for (int i = 0; i < ROWS; ++i) acc[i][j] += x[i] * wv;
        }
    };
    long k = 0;
    for (; k + L <= K; k += L) step(xp + k * ROWS, k, true);
    const T* xt = xp + k * ROWS;  // the tail vector of each row
    if (k < K && K >= L) {
        step(xt, K - L, false);
        k = K;
    }
    // Lane sums by halving (log2 L shuffle + add steps, independent across
    // outputs): a lane-by-lane scalar sum is a 16-add dependency chain per output,
    // which cost linear 1x1024x1024 a fifth of its time.
    for (int i = 0; i < ROWS; ++i) {
        for (int j = 0; j < nj; ++j) {
            T s = lane_sum<T>(acc[i][j]);
            for (long kk = k; kk < K; ++kk) s += xt[i * L + (kk - k)] * wr[j][kk];  // K < L
            if (accum) s += C[i * ldc + j];
            if (bias) s += bias[j];
            if (act == ACT_RELU) s = s < T(0) ? T(0) : s;
            else if (act == ACT_GELU) s = T(0.5) * s * (T(1) + std::erf(s * T(0.70710678118654752440)));
            C[i * ldc + j] = s;
        }
    }
}
template <class T> using DK = void (*)(long, const T*, const T*, long, T*, long, int, bool, const T*, int);
constexpr int kDotRows = 8;  // rows of A per dot_kernel call
// W rows per pass: as many as the registers allow (fewer W streams would leave the
// x loads from L1 the bottleneck, more would spill)
constexpr int dot_jb(int rows) { return rows <= 2 ? 8 : rows == 3 ? 6 : rows <= 5 ? 4 : rows <= 7 ? 3 : 2; }
template <class T, int... R> HK_ALWAYS_INLINE DK<T> dot_pick(int rows, std::integer_sequence<int, R...>) {
    constexpr DK<T> tab[] = {nullptr, &dot_kernel<T, R + 1, dot_jb(R + 1)>...};
    return tab[rows];
}
template <class T> HK_ALWAYS_INLINE DK<T> dot_for(int rows) {
    return dot_pick<T>(rows, std::make_integer_sequence<int, kDotRows>{});
}

// Pack buffers persist per thread (pool workers are persistent), 64-byte aligned;
// from 1 MiB on they are 2 MiB aligned and backed by transparent huge pages
// where the kernel allows it (a packed 2048-deep block spans 1000 4K pages:
// TLB misses, not bandwidth, would set the pace).
struct PackBuf {
    void* p = nullptr;
    size_t cap = 0;
    ~PackBuf() { std::free(p); }
    void* get(size_t bytes) {
        if (bytes > cap) {
            std::free(p);
            p = nullptr;
            cap = 0;
            constexpr size_t kHuge = size_t(2) << 20;
            const bool huge = bytes >= kHuge / 2;
            const size_t align = huge ? kHuge : 4096;
            const size_t want = (bytes + align - 1) & ~(align - 1);
            if (posix_memalign(&p, huge ? kHuge : 64, want) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
            if (huge) madvise(p, want, MADV_HUGEPAGE);
#endif
            cap = want;
        }
        return p;
    }
};
// tl_bufA/B: a thread's own panels; tl_bufC: its block of C^T (transposed_chunk).
static thread_local PackBuf tl_bufA, tl_bufB, tl_bufC;

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
                    // L-MR spill is overwritten by the next one.  The panel's last
                    // row stores MR values only: a spill past the panel would land in
                    // the next one, which another thread may already have packed.
                    for (; k + L <= kc; k += L) {
                        typename Vec<T>::V r[L];
#pragma GCC unroll 16
                        for (int q = 0; q < L; ++q) r[q] = loadu(src[q < MR ? q : 0] + k);
                        transpose_inplace<T>(r);
#pragma GCC unroll 16
                        for (int q = 0; q < L; ++q) {
                            if (k + q + 1 < kc) storeu(d + (k + q) * MR, r[q]);
                            else std::memcpy(d + (k + q) * MR, &r[q], MR * sizeof(T));
                        }
                    }
                }
                for (; k < kc; ++k)
#pragma GCC unroll 16
                    for (int i = 0; i < MR; ++i) d[k * MR + i] = src[i][k];
            } else {
                for (long k = 0; k < kc; ++k)
                    for (int i = 0; i < MR; ++i) d[k * MR + i] = i < mr ? src[i][k] : T(0);
            }
        } else {  // op(A) = a^T: each k is a contiguous run of a row of a
            const T* s = p.a + k0 * p.lda + i0 + ip;
            if (mr == MR) {
                // a constant-size copy compiles to a few vector moves; a variable one is a libc call
                // per k (a weight gradient g^T x packs 1024 of them per panel: 0.75x torch before this)
                for (long k = 0; k < kc; ++k) std::memcpy(d + k * MR, s + k * p.lda, MR * sizeof(T));
            } else {
                for (long k = 0; k < kc; ++k) {
                    std::memcpy(d + k * MR, s + k * p.lda, mr * sizeof(T));
                    for (int i = mr; i < MR; ++i) d[k * MR + i] = T(0);
                }
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
            if (nr < NR) {
                for (long k = 0; k < kc; ++k) {
                    const T* s = p.b + (k0 + k) * p.ldb + j0 + jp;
                    for (int j = 0; j < NR; ++j) d[k * NR + j] = j < nr ? s[j] : T(0);
                }
            }
            continue;  // full panels: below, in row order
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
    if (!p.tb) {
        // Full panels of (K,N) B in blocks of KB rows: every source row is read in
        // order (a column-panel walk would stride by ldb and alias in the caches).
        constexpr long KB = 16;
        const long full = nc / NR;
        for (long kb = 0; kb < kc; kb += KB) {
            const long ke = hmin(kc, kb + KB);
            for (long jp = 0; jp < full; ++jp) {
                T* d = dst + jp * NR * kc;
                const T* s = p.b + (k0 + kb) * p.ldb + j0 + jp * NR;
                for (long k = kb; k < ke; ++k, s += p.ldb) std::memcpy(d + k * NR, s, NR * sizeof(T));
            }
        }
    }
}


// ------------------------------------------------------------------ drivers
template <class T> HK_ALWAYS_INLINE long round_up(long x, long m) { return (x + m - 1) / m * m; }
// micro-kernel flags for the K block [pc, pc + kc)
template <class T> HK_ALWAYS_INLINE int kflags(const GemmProblem<T>& p, long pc, long kc) {
    return (pc > 0 || p.accumulate ? F_ACC : 0) | (pc + kc == p.K ? F_LAST : 0) | (p.bias_rows ? F_RBIAS : 0);
}
// the bias for the tile at (row ir, column jr)
template <class T> HK_ALWAYS_INLINE const T* tile_bias(const GemmProblem<T>& p, long ir, long jr) {
    return p.bias ? p.bias + (p.bias_rows ? ir : jr) : nullptr;
}

// K == 0: C = act(C + bias) with accumulate, else act(bias) (or zeros).
template <class T> void gemm_fill(const GemmProblem<T>& p) {
    for (long i = 0; i < p.M; ++i) {
        T* row = p.c + i * p.ldc;
        if (!p.accumulate) std::memset(row, 0, p.N * sizeof(T));
        if (p.bias && p.bias_rows) k_scale<T>(row, T(1), p.bias[i], row, p.N);
        else if (p.bias) k_binary<T>(BIN_ADD, row, p.bias, row, p.N);
        if (p.act == ACT_RELU) k_relu<T>(row, row, p.N);
        else if (p.act == ACT_GELU) k_gelu<T>(row, row, p.N);
    }
}

// C[:, n0:n1] for M <= kStreamRows rows of (K,N) B: B streamed once.
template <class T> void gemv_chunk(const GemmProblem<T>& p, long n0, long n1) {
    constexpr int L = Cfg<T>::L, NR = Cfg<T>::NR;
    const long M = p.M, N = n1 - n0, K = p.K;
    T* Cb = p.c + n0;
    const T* bias = p.bias ? p.bias + n0 : nullptr;
    T* Ap = (T*)tl_bufA.get(M * K * sizeof(T));
    for (long k = 0; k < K; ++k)
        for (long i = 0; i < M; ++i) Ap[k * M + i] = p.ta ? p.a[k * p.lda + i] : p.a[i * p.lda + k];
    const long nmain = N / L * L;
    if (nmain) gemv_for<T>((int)M)(K, Ap, p.b + n0, p.ldb, Cb, p.ldc, nmain, bias, p.act);
    if (nmain < N) {  // < L columns left: zero-padded B edge panel + narrow micro-kernel
        const UK<T> narrow = pick_narrow<T>((int)M, std::make_integer_sequence<int, kStreamRows>{});
        const int nr = (int)(N - nmain);
        const long KE = 4096;  // K blocks keep the edge panel <= 4096 x NR
        T* Be = (T*)tl_bufB.get(hmin(K, KE) * NR * sizeof(T));
        for (long pc = 0; pc < K; pc += KE) {
            const long kc = hmin(KE, K - pc);
            pack_B(Be, p, pc, kc, n0 + nmain, nr);
            narrow(kc, Ap + pc * M, 0, Be, NR, Cb + nmain, p.ldc, nr, kflags(p, pc, kc),
                   bias ? bias + nmain : nullptr, p.act, nullptr);
        }
    }
}

// Whether op(B) = W^T with M rows and depth K runs as dot products (dot_chunk)
// rather than on the outer-product kernels, which need W transposed first.  The
// transposes cost ~4/M of the multiply-adds (an L x L block: log2(L) x L
// shuffles, amortised over the M rows), the lane sums ~64/K (log2(L) shuffles
// per output, amortised over K / L multiply-adds); measured, the two paths cross
// near 20 M = K (K = 256: 12 rows, 512: 25, 1024: 51).  Linear / matmul at
// 1 thread, Zen 5, before -> after: 4x1024x1024 0.32 -> 1.08, 8x1024x1024
// 0.75 -> 2.13, 16x1024x1024 0.90 -> 1.14, 32x1024x1024 0.76 -> 0.96.  From 16
// rows the C^T path (transposed_chunk), which reads W in place and transposes the
// small op(A) and C instead, comes first wherever k_gemm finds that it pays.
HK_ALWAYS_INLINE bool dot_wins(long M, long K) { return M <= kGemvRows || (K >= 256 && 20 * M <= K); }

// C[:, n0:n1] = act(op(A) W^T + bias) by dot products: every C element is the
// dot product of an A row and a W row, both contiguous in k; W is read from
// memory once.  Blocks: K (kDotRows rows of A stay in L1) x W rows (an L2 block,
// swept by every kDotRows-row block of A).
template <class T> void dot_chunk(const GemmProblem<T>& p, long n0, long n1) {
    constexpr int L = Cfg<T>::L;
    const long M = p.M, K = p.K;
    constexpr long KD = 4096 / sizeof(T);  // K block: kDotRows rows of A in 32 KiB (L1)
    const long JC = hmax<long>(16, (256 << 10) / sizeof(T) / hmin(K, KD));  // W rows per 256 KiB (L2)
    // A's rows, kDotRows at a time, interleaved by vectors (see dot_kernel), per K block
    const long kdv = round_up<T>(hmin(K, KD), L), nblk = (M + kDotRows - 1) / kDotRows;
    T* Ap = (T*)tl_bufA.get(nblk * kDotRows * kdv * sizeof(T));
    for (long pc = 0; pc < K; pc += KD) {
        const long kc = hmin(KD, K - pc);
        const bool last = pc + kc == K, accum = pc > 0;
        const T* bias = last && p.bias ? p.bias : nullptr;
        const int act = last ? p.act : ACT_NONE;
        for (long i0 = 0; i0 < M; i0 += kDotRows) {
            const int rows = (int)hmin<long>(kDotRows, M - i0);
            T* dst = Ap + i0 * kdv;
            for (int i = 0; i < rows; ++i) {
                const T* src = p.a + (p.ta ? i0 + i + pc * p.lda : (i0 + i) * p.lda + pc);
                const long step = p.ta ? p.lda : 1;
                for (long q = 0; q * L < kc; ++q) {
                    T* d = dst + (q * rows + i) * L;
                    const long n = hmin<long>(L, kc - q * L);
                    if (n == L && step == 1) std::memcpy(d, src + q * L, L * sizeof(T));
                    else if (n == L || kc < L) for (int l = 0; l < L; ++l) d[l] = l < n ? src[(q * L + l) * step] : T(0);
                    else  // the tail, aligned with the block's last L values (see dot_kernel)
                        for (int l = 0; l < L; ++l) d[l] = l < L - n ? T(0) : src[(kc - L + l) * step];
                }
            }
        }
        for (long jc = n0; jc < n1; jc += JC) {
            const long je = hmin(n1, jc + JC);
            for (long i0 = 0; i0 < M; i0 += kDotRows) {
                const int rows = (int)hmin<long>(kDotRows, M - i0);
                const DK<T> dk = dot_for<T>(rows);
                const int jb = dot_jb(rows);
                for (long j = jc; j < je; j += jb)
                    dk(kc, Ap + i0 * kdv, p.b + j * p.ldb + pc, p.ldb, p.c + i0 * p.ldc + j, p.ldc,
                       (int)hmin<long>(jb, je - j), accum, bias ? bias + j : nullptr, act);
            }
        }
    }
}

// C[:, n0:n1] for few rows.  (K,N) B: the micro-kernel reads B in place; with
// more than one row panel the first copies each B micro-panel out for the rest.
// op(B) = W^T: each KCS x NR micro-panel is transposed into the L1 buffer and
// swept over every row panel (vs packing an L2 block of B first: same-run
// native/torch, 1 thread, linear 64x512x512 0.92 -> 1.04-1.07, 16x1000x1000
// 0.88 -> 1.04, 8x1024x1024 1.14 -> 1.36-1.50; 2 threads 1.01-1.20 -> 1.09-1.29).
template <class T> void skinny_chunk(const GemmProblem<T>& p, long n0, long n1) {
    using C = Cfg<T>;
    constexpr int MR = C::MR, NR = C::NR;
    const long M = p.M, K = p.K;
    const long KCs = C::KCS;
    T* Ap = (T*)tl_bufA.get(round_up<T>(M, MR) * hmin(K, KCs) * sizeof(T));
    T* Bc = (T*)tl_bufB.get(hmin(K, KCs) * NR * sizeof(T));
    const int first = (int)hmin<long>(MR, M);
    for (long pc = 0; pc < K; pc += KCs) {
        const long kc = hmin(KCs, K - pc);
        const int flags = kflags(p, pc, kc);
        pack_A(Ap, p, 0, M, pc, kc);
        for (long jr = n0; jr < n1; jr += NR) {
            const int nr = (int)hmin<long>(NR, n1 - jr);
            T* Cj = p.c + jr;
            long ir = 0;
            if (nr == NR && !p.tb) {
                const T* Bin = p.b + pc * p.ldb + jr;
                const T* bj = tile_bias(p, 0, jr);
                if (M > MR)
                    inplace_kernel_for<T, B_COPY>(first)(kc, Ap, 0, Bin, p.ldb, Cj, p.ldc, NR, flags, bj, p.act, Bc);
                else
                    inplace_kernel_for<T, B_INPLACE>(first)(kc, Ap, 0, Bin, p.ldb, Cj, p.ldc, NR, flags, bj, p.act,
                                                            nullptr);
                ir = MR;
            } else {
                pack_B(Bc, p, pc, kc, jr, nr);
            }
            for (; ir < M; ir += MR) {
                const int mr = (int)hmin<long>(MR, M - ir);
                kernel_for<T>(mr, nr)(kc, Ap + ir * kc, 0, Bc, NR, Cj + ir * p.ldc, p.ldc, nr, flags,
                                      tile_bias(p, ir, jr), p.act, nullptr);
            }
        }
    }
}

// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols: L x L blocks in
// registers, the edges element by element.
template <class T>
void transpose_to(const T* __restrict src, long lds, long rows, long cols, T* __restrict dst, long ldd) {
    constexpr int L = Vec<T>::L;
    long i = 0;
    for (; i + L <= rows; i += L) {
        long j = 0;
        for (; j + L <= cols; j += L) {
            typename Vec<T>::V r[L];
#pragma GCC unroll 16
            for (int q = 0; q < L; ++q) r[q] = loadu(src + (i + q) * lds + j);
            transpose_inplace<T>(r);
#pragma GCC unroll 16
            for (int q = 0; q < L; ++q) storeu(dst + (j + q) * ldd + i, r[q]);
        }
        for (; j < cols; ++j)
            for (int q = 0; q < L; ++q) dst[j * ldd + i + q] = src[(i + q) * lds + j];
    }
    for (; i < rows; ++i)
        for (long j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

// C[:, n0:n1] = act(op(A) W^T + bias) for few rows, computed as its transpose
// C^T = W op(A)^T.  The outer-product kernels need their vector operand
// contiguous along the output's columns: as B, W (N x K) must be transposed
// (16 x 16 shuffle blocks over all N x K values, ~4/M of the multiply-adds, and
// W's rows read 16 at a time), while as the broadcast operand it is read in
// place, row after row.  So op(A)^T, the small M x K operand, is the one
// transposed into NR-column panels, and the C^T tiles gather in an L2-sized
// block that is transposed into C while still in cache (M x JC values).
// W is not copied out even when its rows are 4 KiB apart and share an L1 set:
// measured, the copy cost more than the conflicts (64x1024x1024 0.91 vs 1.02).
// Same-run linear/matmul, 1 thread, Zen 5, skinny path before -> this:
// 64x1024x1024 0.90 -> 1.02, 64x512x512 0.92 -> 0.98, 32x512x512 0.87 -> 1.06,
// 64x256x256 0.93 -> 1.03.
template <class T> void transposed_chunk(const GemmProblem<T>& p, long n0, long n1) {
    using C = Cfg<T>;
    constexpr int MR = C::MR, NR = C::NR, L = C::L;
    const long M = p.M, K = p.K, Mp = round_up<T>(M, NR), KCs = C::KCS;
    const long JC = hmax<long>(MR, (128 << 10) / long(Mp * sizeof(T)) / MR * MR);  // C^T rows per block
    GemmProblem<T> at = p;  // op(A)^T as a B operand: its element (k, i) is op(A)(i, k)
    at.b = p.a;
    at.ldb = p.lda;
    at.tb = !p.ta;
    T* Ap = (T*)tl_bufA.get(Mp * K * sizeof(T));  // K block pc: Mp x kc at Ap + pc * Mp
    for (long pc = 0; pc < K; pc += KCs) pack_B(Ap + pc * Mp, at, pc, hmin(KCs, K - pc), 0, M);
    T* Ct = (T*)tl_bufC.get(hmin(JC, n1 - n0) * Mp * sizeof(T));
    for (long j0 = n0; j0 < n1; j0 += JC) {
        const long jn = hmin(JC, n1 - j0);
        if (p.accumulate) transpose_to(p.c + j0, p.ldc, M, jn, Ct, Mp);
        for (long pc = 0; pc < K; pc += KCs) {
            const long kc = hmin(KCs, K - pc);
            // C's column bias is a row bias of C^T
            const int flags = (pc > 0 || p.accumulate ? F_ACC : 0) | (pc + kc == K ? F_LAST : 0) | F_RBIAS;
            for (long jr = j0; jr < j0 + jn; jr += MR) {
                const int mr = (int)hmin<long>(MR, j0 + jn - jr);
                const T* bias = p.bias ? p.bias + jr : nullptr;
                for (long ic = 0; ic < M; ic += NR) {
                    // a panel's padding columns (zeros of op(A)^T) are computed and stored too, into
                    // C^T's padding: whole-vector stores instead of the edge path's copies
                    const int width = M - ic <= L ? L : NR;
                    direct_kernel_for<T, B_PACKED>(mr, width)(kc, p.b + jr * p.ldb + pc, p.ldb, Ap + pc * Mp + ic * kc,
                                                               NR, Ct + (jr - j0) * Mp + ic, Mp, width, flags, bias,
                                                               p.act, nullptr);
                }
            }
        }
        transpose_to(Ct, Mp, jn, M, p.c + j0, p.ldc);
    }
}

// C[:, n0:n1] of a small problem (op(A) = A, (K,N) B, all in cache): no
// packing at all, both operands read in place; only edge panels of B are packed.
template <class T> void direct_chunk(const GemmProblem<T>& p, long n0, long n1) {
    constexpr int MR = Cfg<T>::MR, NR = Cfg<T>::NR;
    const long M = p.M, K = p.K;
    for (long jr = n0; jr < n1; jr += NR) {
        const int nr = (int)hmin<long>(NR, n1 - jr);
        const T* Bj = p.b + jr;
        long ldbk = p.ldb;
        if (nr < NR) {
            T* Be = (T*)tl_bufB.get(K * NR * sizeof(T));
            pack_B(Be, p, 0, K, jr, nr);
            Bj = Be;
            ldbk = NR;
        }
        for (long ir = 0; ir < M; ir += MR) {
            const int mr = (int)hmin<long>(MR, M - ir);
            const UK<T> uk = nr < NR ? direct_kernel_for<T, B_PACKED>(mr, nr) : direct_kernel_for<T, B_NEAR>(mr);
            uk(K, p.a + ir * p.lda, p.lda, Bj, ldbk, p.c + ir * p.ldc + jr, p.ldc, nr, kflags(p, 0, K),
               tile_bias(p, ir, jr), p.act, nullptr);
        }
    }
}

// C[:, n0:n1] of a small problem with op(B) = W^T (the nn.Linear layout), A
// row-major, all in cache: A is read in place, each NR-column panel of B is
// transposed once into an L1-sized buffer and swept over every row panel.
// That transpose is all that separates it from direct_chunk: linear costs
// 0.4-0.6 us more than matmul per call whatever M (N x K = 128 x 64, Zen 5), and
// a faster transpose cannot remove it: in cache, a 16 x 16 block takes 17 ns
// transposed and 11 ns merely copied (same loads and stores, no shuffles).
template <class T> void direct_tb_chunk(const GemmProblem<T>& p, long n0, long n1) {
    constexpr int MR = Cfg<T>::MR, NR = Cfg<T>::NR;
    const long M = p.M, K = p.K;
    T* Bp = (T*)tl_bufB.get(K * NR * sizeof(T));
    const int flags = kflags(p, 0, K);
    for (long jr = n0; jr < n1; jr += NR) {
        const int nr = (int)hmin<long>(NR, n1 - jr);
        pack_B(Bp, p, 0, K, jr, nr);
        for (long ir = 0; ir < M; ir += MR) {
            const int mr = (int)hmin<long>(MR, M - ir);
            direct_kernel_for<T, B_PACKED>(mr, nr)(K, p.a + ir * p.lda, p.lda, Bp, NR, p.c + ir * p.ldc + jr, p.ldc,
                                                    nr, flags, tile_bias(p, ir, jr), p.act, nullptr);
        }
    }
}

// A (M x K, row-major, lda = K) packed once into MR-row panels for every K block
// of gemm_inplace: block pc's panel for rows ir is at dst + pc * round_up(M, MR) + ir * kc.
// K blocks of equal size (K = 576 -> 288 + 288, not 512 + 64: a 64-deep block
// pays the tile's load/store for little work)
template <class T> HK_ALWAYS_INLINE long kblock(long K) {
    const long n = (K + Cfg<T>::KC - 1) / Cfg<T>::KC;
    return n ? (K + n - 1) / n : 1;
}
template <class T> void pack_a_blocks(const T* A, long M, long K, T* dst) {
    const long KC = kblock<T>(K), Mpad = round_up<T>(M, Cfg<T>::MR);
    GemmProblem<T> p{A, nullptr, nullptr, nullptr, M, 0, K, K, 0, 0, false, false, ACT_NONE};
    for (long pc = 0; pc < K; pc += KC) pack_A(dst + pc * Mpad, p, 0, M, pc, hmin(KC, K - pc));
}

// Rows [m0, m1) of C (M x nq, row stride ldc) = op(A) . B, serial: B in place (K x
// nq, rows ldb apart, in cache; only an edge panel narrower than NR is copied,
// zero padded); A either prepacked by pack_a_blocks (Ap; row-major A) or read in
// place (row-major with stride lda, or transposed when at: element (i, k) at
// A[k * lda + i]).  bias (per row) on the last K block; acc adds to C.  These are a
// convolution's GEMMs: the weights packed once for a whole batch (or read in
// place when few pixels share them), the im2col'ed input as it was built.
template <class T> struct InplaceA {
    const T* a;       // row-major M x K (lda), or K x M when at
    long lda;
    bool at;
    const T* packed;  // pack_a_blocks(a, M, K) or nullptr
    long M;
};
template <class T>
void gemm_inplace(const InplaceA<T>& A, const T* B, long ldb, long K, long nq, T* C, long ldc, long m0, long m1,
                  const T* rbias, bool acc) {
    constexpr int MR = Cfg<T>::MR, NR = Cfg<T>::NR;
    const long KC = kblock<T>(K), Mpad = round_up<T>(A.M, MR), lda = A.lda;
    const T* Ap = A.packed;
    const bool at = A.at;
    const long nfull = nq / NR * NR;
    const int nedge = int(nq - nfull);
    T* Be = nedge ? (T*)tl_bufB.get(hmin(K, KC) * NR * sizeof(T)) : nullptr;
    if (K == 0) {  // no terms: C = bias (+ C)
        for (long i = m0; i < m1; ++i)
            for (long j = 0; j < nq; ++j) C[i * ldc + j] = (acc ? C[i * ldc + j] : T(0)) + (rbias ? rbias[i] : T(0));
        return;
    }
    for (long pc = 0; pc < K; pc += KC) {
        const long kc = hmin(KC, K - pc);
        const int flags = (pc > 0 || acc ? F_ACC : 0) | (pc + kc == K ? F_LAST : 0) | F_RBIAS;
        if (Be) {
            for (long k = 0; k < kc; ++k)
                for (int j = 0; j < NR; ++j) Be[k * NR + j] = j < nedge ? B[(pc + k) * ldb + nfull + j] : T(0);
        }
        for (long ir = m0; ir < m1; ir += MR) {
            const int mr = (int)hmin<long>(MR, m1 - ir);
            const T* a = Ap ? Ap + pc * Mpad + ir * kc : at ? A.a + pc * lda + ir : A.a + ir * lda + pc;
            const T* bias = rbias ? rbias + ir : nullptr;
            if (nfull) {
                const UK<T> uk = Ap ? kernel_for<T>(mr) : at ? direct_kernel_for<T, B_NEAR, -1>(mr)
                                                           : direct_kernel_for<T, B_NEAR, 0>(mr);
                for (long jr = 0; jr < nfull; jr += NR)
                    uk(kc, a, lda, B + pc * ldb + jr, ldb, C + ir * ldc + jr, ldc, NR, flags, bias, ACT_NONE, nullptr);
            }
            if (Be) {
                const UK<T> uk = Ap ? kernel_for<T>(mr, nedge) : at ? direct_kernel_for<T, B_PACKED, -1>(mr, nedge)
                                                                   : direct_kernel_for<T, B_PACKED, 0>(mr, nedge);
                uk(kc, a, lda, Be, NR, C + ir * ldc + nfull, ldc, nedge, flags, bias, ACT_NONE, nullptr);
            }
        }
    }
}

// Tiles of C: rows [r0, r1) and columns [c0, c1) against packed panels of one K
// block.  Ap holds the MR-row panels from row ra, Bp the NR-column panels from
// column cb.  The A micro-panel stays in L1 across the column loop.
template <class T>
void tiles(const GemmProblem<T>& p, const T* Ap, long ra, const T* Bp, long cb, long kc, int flags, long r0,
           long r1, long c0, long c1) {
    constexpr int MR = Cfg<T>::MR, NR = Cfg<T>::NR;
    for (long ir = r0; ir < r1; ir += MR) {
        const int mr = (int)hmin<long>(MR, r1 - ir);
        const T* ap = Ap + (ir - ra) * kc;
        for (long jr = c0; jr < c1; jr += NR) {
            const int nr = (int)hmin<long>(NR, c1 - jr);
            kernel_for<T>(mr, nr)(kc, ap, 0, Bp + (jr - cb) * kc, NR, p.c + ir * p.ldc + jr, p.ldc, nr, flags,
                                  tile_bias(p, ir, jr), p.act, nullptr);
        }
    }
}

// Columns of a packed B block: KC x NB in half of this CPU's L2, at most Cfg::NB
// (tuned on a 2 MiB L2), which is also the answer where sysconf cannot tell.
// Interleaved A/B, Zen 5 (1 MiB L2), float32 GFLOP/s over 3-4 rounds, NB 512 ->
// 256: 1 thread 512^3 216-217 -> 222-232, 1536^3 215-219 -> 219-228; 2 threads
// 2048^3 387-403 -> 418-429.
template <class T> long block_columns() {
    using C = Cfg<T>;
    static const long columns = [] {
        const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        if (l2 <= 0) return C::NB;
        return hmax<long>(C::NR, hmin<long>(C::NB, l2 / 2 / long(C::KC * sizeof(T)) / C::NR * C::NR));
    }();
    return columns;
}

// C[:, n0:n1], every row, on the calling thread: Goto/BLIS loops with this
// thread's own pack buffers.
template <class T> void packed_chunk(const GemmProblem<T>& p, long n0, long n1) {
    using C = Cfg<T>;
    constexpr int MR = C::MR, NR = C::NR;
    const long M = p.M, N = n1 - n0, K = p.K;
    const long nkb = (K + C::KC - 1) / C::KC, KCb = (K + nkb - 1) / nkb;  // equal K blocks
    const long M3 = hmin(M, C::M3), NB = hmin(N, block_columns<T>());
    T* Ap = (T*)tl_bufA.get(round_up<T>(M3, MR) * KCb * sizeof(T));
    T* Bp = (T*)tl_bufB.get(round_up<T>(NB, NR) * KCb * sizeof(T));
    for (long i3 = 0; i3 < M; i3 += M3) {
        const long m3 = hmin(M3, M - i3);
        for (long pc = 0; pc < K; pc += KCb) {
            const long kc = hmin(KCb, K - pc);
            const int flags = kflags(p, pc, kc);
            pack_A(Ap, p, i3, m3, pc, kc);
            for (long j2 = n0; j2 < n1; j2 += NB) {
                const long nb = hmin(NB, n1 - j2);
                pack_B(Bp, p, pc, kc, j2, nb);
                tiles(p, Ap, i3, Bp, j2, kc, flags, i3, i3 + m3, j2, j2 + nb);
            }
        }
    }
}

template <class F> void par_for(const Parallel& par, long n, F& f) {
    if (n <= 1 || par.threads <= 1) {
        for (long i = 0; i < n; ++i) f(i);
        return;
    }
    par.run(n, [](void* a, long i) { (*static_cast<F*>(a))(i); }, &f);
}

// Rows [m0, m1) of C, every column, on the calling thread with its own buffers.
template <class T> void packed_rows(const GemmProblem<T>& p, long m0, long m1) {
    GemmProblem<T> q = p;
    q.M = m1 - m0;
    q.a = p.ta ? p.a + m0 : p.a + m0 * p.lda;
    q.c = p.c + m0 * p.ldc;
    if (p.bias && p.bias_rows) q.bias = p.bias + m0;
    packed_chunk(q, 0, p.N);
}

// ------------------------------------------------------------------ entry point
// GEMM splits only from this many multiply-adds (measured, 2 cores: 128^3 runs
// 41 -> 26 us with a warm worker; a parked worker's ~10-15 us wake-up makes
// anything smaller slower than one thread).  GEMV-like calls are memory-bound:
// each B element weighs as much as 4 multiply-adds of a compute-bound GEMM.
constexpr double kSplitMacs = 128.0 * 128 * 128;
constexpr long kSkinnyRows = 72;  // skinny path (B per micro-panel, A packed) up to this many rows
constexpr long kTransposedRows = 16;  // x W^T as C^T = W op(A)^T (transposed_chunk) from this many rows
// Neither operand is packed when both fit in L2 and K is short.
constexpr long kDirectK = HK_DK, kDirectBytes = HK_DB;

// [lo, hi) of part t of n items split in parts, aligned to `align`
HK_ALWAYS_INLINE void split_range(long n, long t, long parts, long align, long& lo, long& hi) {
    const long units = (n + align - 1) / align;
    lo = hmin(n, units * t / parts * align);
    hi = hmin(n, units * (t + 1) / parts * align);
}

template <class T> void k_gemm(const GemmProblem<T>& p, const Parallel& par) {
    constexpr int NR = Cfg<T>::NR;
    const long M = p.M, N = p.N, K = p.K;
    if (M <= 0 || N <= 0) return;
    if (K == 0) return gemm_fill(p);
    const double work = double(M) * N * K * (M <= kGemvRows ? 4 : 1);
    const int nt = par.threads > 1 && work >= kSplitMacs ? par.threads : 1;
    // the GEMV kernels fuse a column bias only and always overwrite C
    // 4 rows and (K,N) B: streaming B row after row beats the skinny kernel's walk down B panels
    // (same-run native/torch, 1 thread: 4x1024x1024 0.86 -> 1.23, 4x512x512 0.68 -> 0.85,
    // 4x4000x300 0.92 -> 1.26; rows a multiple of 4 KiB apart alias in one cache set per row).
    // 5-8 rows streamed (A broadcasts spill or, 2 B rows per pass, C is loaded/stored twice as
    // often) lose to the skinny path: 8x1024x1024 0.92 -> 0.85.
    const bool stream = !p.tb && M <= kStreamRows;
    const bool gemv = stream && !p.bias_rows && !p.accumulate;
    const bool skinny = M <= kSkinnyRows;
    // op(B) = W^T from 16 rows: C^T = W op(A)^T when that moves fewer values than
    // transposing W (M x K + M x N against N x K) and padding op(A)^T's M columns to
    // whole vectors wastes less than transposing W costs (~4/M of the work; 72 rows:
    // 0.85 vs 0.87).  It reads W once where the dot products read it once per 8 rows,
    // so it also takes their deep shapes (linear/matmul, same run, 1 thread: 32x1024x1024
    // 0.92 -> 1.03, 32x4096x4096 1.15 -> 1.90, 64x768x3072 1.02 -> 1.46; 12 rows stay
    // dot products: 1.10 vs 0.86).
    const bool transposed = p.tb && skinny && M >= kTransposedRows && !p.bias_rows && M * (K + N) < N * K &&
                            round_up<T>(M, Cfg<T>::L) - M <= Cfg<T>::L / 4;
    const bool dot = p.tb && skinny && !transposed && dot_wins(M, K) && !p.bias_rows && !p.accumulate;
    const bool small = !p.ta && K <= kDirectK && (M * K + K * N) * long(sizeof(T)) <= kDirectBytes;
    const bool direct = small && !p.tb, direct_tb = small && p.tb;
    if (nt == 1) {
        if (gemv) gemv_chunk(p, 0, N);
        else if (dot) dot_chunk(p, 0, N);
        else if (transposed) transposed_chunk(p, 0, N);
        else if (direct) direct_chunk(p, 0, N);
        else if (direct_tb) direct_tb_chunk(p, 0, N);
        else if (skinny) skinny_chunk(p, 0, N);
        else packed_chunk(p, 0, N);
        return;
    }
    if (M <= kSkinnyRows) {
        // Few rows: independent column chunks (each packs the small A itself).
        // GEMV and dot products: one contiguous range per thread keeps B reads long and sequential.
        // C^T: one range per thread, so op(A)^T is transposed once per thread, in MR-row blocks of W.
        const long npan = (N + NR - 1) / NR, align = transposed ? Cfg<T>::MR : NR;
        long parts = gemv || dot || transposed ? nt : hmin<long>(4L * nt, hmax<long>(N / 256, 1));
        parts = hmax<long>(hmin(parts, npan), 1);
        auto chunk = [&](long t) {
            long lo, hi;
            split_range(N, t, parts, align, lo, hi);
            if (hi <= lo) return;
            if (gemv) gemv_chunk(p, lo, hi);
            else if (dot) dot_chunk(p, lo, hi);
            else if (transposed) transposed_chunk(p, lo, hi);
            else if (direct) direct_chunk(p, lo, hi);
            else if (direct_tb) direct_tb_chunk(p, lo, hi);
            else if (skinny) skinny_chunk(p, lo, hi);
            else packed_chunk(p, lo, hi);
        };
        par_for(par, parts, chunk);
        return;
    }
    // More rows: each thread computes a contiguous, MR-aligned range of rows with its own
    // packed A and B (B packed once per thread, into its own L2; no barrier between packing
    // and computing).  Same-run native/torch, 2 threads, SPR: 256^3 0.92 -> 1.13, 512^3
    // 0.88 -> 0.97, 1024^3 0.96 -> 0.99, 2048^3 0.96 -> 1.02, 96x4096x1024 0.79 -> 0.97,
    // linear 512^3 0.95 -> 1.07 against packing A and B once into shared buffers (a barrier
    // per K block, half of every B panel read from the other core's L2).
    auto rows = [&](long t) {
        long lo, hi;
        split_range(M, t, nt, Cfg<T>::MR, lo, hi);
        if (hi > lo) packed_rows(p, lo, hi);
    };
    par_for(par, nt, rows);
}
