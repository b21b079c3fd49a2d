// bfloat16 GEMM on AVX512_BF16 dot products: C = bf16(act(op(A) op(B) + bias)),
// every product and sum in float32.  vdpbf16ps multiplies a PAIR of bf16 per fp32
// lane -- (A[i][k], A[i][k+1]) . (B[k][j], B[k+1][j]) -- so the packed operands are
// matrices of 32-bit k-pairs ("words"): twice the multiply-adds of an fp32 FMA per
// instruction, half the bytes per operand.  vdpbf16ps treats subnormal inputs as zero
// and flushes subnormal results (whatever MXCSR says): a product or sum below 2^-126
// comes out 0 here where the widened route and the reference keep it -- the one
// difference between the routes beyond summation order (tests/native/test_gemm_bf16.py).
// Included by kernels_avx512bf16.cpp only.
//
// ------------------------------------------------------------------ bf16 dot products
// Blocking as the float32 packed path (kernel of MR rows x 2 vectors = 32 columns),
// in k-pairs: a K block of KC2 pairs keeps the MR x KC2 A micro-panel (24 KiB) in
// L1 and the KC2 x NB B block (512 KiB) in half of a 1 MiB L2.  Up to KC2_ONE pairs
// (K <= 2048) K is one block, although its A micro-panel then fills L1: with more
// blocks the float32 partial sums (M3 x N: 8 MiB a thread at 2048^2) go through L3
// once per block.  Interleaved A/B, Zen 5, GFLOP/s over 3 rounds, KC2 512 / NB 512
// -> this: 2 threads 2048^3 611-741 -> 755-795, 2048x2048x1500 739-822 -> 815-875;
// 1 thread 2048^3 393-411 -> 406-414; other shapes within the noise.
struct Bf16Cfg {
    static constexpr int MR = 12, NV = 2, L = 16, NR = L * NV;
    static constexpr long KC2 = 512, KC2_ONE = 1024, NB = 256, M3 = 2048;
};
using Word = std::uint32_t;  // a k-pair of bf16: the low half is the even k

// The k-pair (k, k + 1) of row r of a row-major bf16 matrix with K columns (k + 1 == K: zero).
HK_ALWAYS_INLINE Word pair_in_row(const bf16* row, long k, long K) {
    return Word(row[k].bits) | (k + 1 < K ? Word(row[k + 1].bits) << 16 : 0u);
}
// Column c's k-pair of a matrix stored k-major (rows k, k + 1 of `ld` elements; k + 1 == K: zero).
HK_ALWAYS_INLINE Word pair_in_column(const bf16* m, long ld, long k, long c, long K) {
    return Word(m[k * ld + c].bits) | (k + 1 < K ? Word(m[(k + 1) * ld + c].bits) << 16 : 0u);
}

// 32 columns of two consecutive rows (x0: row k, x1: row k + 1) as 32 k-pair words:
// w[0] columns 0-15, w[1] columns 16-31.  vpunpck{l,h}wd interleave within 128-bit
// lanes: lanes 0-3 of lo / hi hold columns (0-3, 8-11, 16-19, 24-27) / (4-7, 12-15,
// 20-23, 28-31); one two-source permute per output puts them in order.
HK_ALWAYS_INLINE void interleave_rows(__m512i x0, __m512i x1, __m512i w[2]) {
    const __m512i lo = _mm512_unpacklo_epi16(x0, x1), hi = _mm512_unpackhi_epi16(x0, x1);
    w[0] = _mm512_permutex2var_epi64(lo, _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), hi);
    w[1] = _mm512_permutex2var_epi64(lo, _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4), hi);
}

// Panels of W <= 32 columns of a k-major bf16 matrix (rows k, k + 1 of `ld` elements
// interleaved: (K,N) B, or op(A) = a^T): panel p holds columns [p W, p W + W) of src as
// W words per pair, at dst + p W kc2.  In blocks of KB pairs across the panels, so that
// every source row is read in order (a walk down one panel strides by ld: at ld = 1024
// it spent a quarter of 32 x 1024 x 1024 waiting on loads).
template <int W>
static void pack_interleaved(Word* __restrict dst, const bf16* src, long ld, long K, long q0, long kc2, long panels) {
    static_assert(W <= 32, "a panel is at most one 512-bit load of bf16 per row");
    constexpr long KB = 8;
    constexpr __mmask32 cols = W == 32 ? ~__mmask32(0) : (__mmask32(1) << W) - 1;
    constexpr __mmask16 first = W >= 16 ? 0xFFFF : (1u << W) - 1;                         // words 0-15
    constexpr __mmask16 second = W <= 16 ? 0 : W == 32 ? 0xFFFF : (1u << (W - 16)) - 1;  // words 16-31
    for (long qb = 0; qb < kc2; qb += KB) {
        const long qe = hmin(kc2, qb + KB);
        for (long panel = 0; panel < panels; ++panel) {
            Word* d = dst + panel * W * kc2;
            for (long q = qb; q < qe; ++q) {
                const long k = 2 * (q0 + q);
                const bf16* r0 = src + k * ld + panel * W;
                __m512i w[2];
                interleave_rows(_mm512_maskz_loadu_epi16(cols, r0),
                                k + 1 < K ? _mm512_maskz_loadu_epi16(cols, r0 + ld) : _mm512_setzero_si512(), w);
                _mm512_mask_storeu_epi32(d + q * W, first, w[0]);
                if (second) _mm512_mask_storeu_epi32(d + q * W + 16, second, w[1]);
            }
        }
    }
}

// op(A) rows [i0, i0 + mc), pairs [q0, q0 + kc2) into MR-row panels: per pair, MR words (zero padded).
static void pack_a_pairs(Word* __restrict dst, const GemmProblem<bf16>& p, long i0, long mc, long q0, long kc2) {
    constexpr int MR = Bf16Cfg::MR;
    if (p.ta)  // op(A) = a^T (a weight gradient g^T x): a's rows k, k + 1 interleaved, as (K,N) B's are
        pack_interleaved<MR>(dst, p.a + i0, p.lda, p.K, q0, kc2, mc / MR);
    for (long ip = p.ta ? mc / MR * MR : 0; ip < mc; ip += MR) {  // a^T: the edge panel only
        const int mr = (int)hmin<long>(MR, mc - ip);
        Word* d = dst + ip * kc2;
        long q = 0;
        if (!p.ta && mr == MR) {
            // row-major A: a row's pairs are its words; 16 x 16 word transposes of the MR rows
            // (+ dummies), stored overlapping in increasing q as float32's pack_A does
            const bf16* src[MR];
            for (int i = 0; i < MR; ++i) src[i] = p.a + (i0 + ip + i) * p.lda;
            for (; q + 16 <= kc2 && 2 * (q0 + q + 16) <= p.K; q += 16) {
                Vec<float>::V r[16];
#pragma GCC unroll 16
                for (int w = 0; w < 16; ++w) std::memcpy(&r[w], src[w < MR ? w : 0] + 2 * (q0 + q), sizeof r[w]);
                transpose_inplace<float>(r);
#pragma GCC unroll 16
                for (int w = 0; w < 16; ++w) {
                    if (q + w + 1 < kc2) std::memcpy(d + (q + w) * MR, &r[w], sizeof r[w]);
                    else std::memcpy(d + (q + w) * MR, &r[w], MR * sizeof(Word));
                }
            }
        }
        for (; q < kc2; ++q) {
            const long k = 2 * (q0 + q);
            for (int i = 0; i < MR; ++i) {
                const long r = i0 + ip + i;
                d[q * MR + i] = i >= mr ? 0u : p.ta ? pair_in_column(p.a, p.lda, k, r, p.K)
                                                    : pair_in_row(p.a + r * p.lda, k, p.K);
            }
        }
    }
}

// op(B) pairs [q0, q0 + kc2) x columns [j0, j0 + nc) into NR-column panels: per pair, NR words.
// (K,N) B: full panels by pack_interleaved.  W^T: a word is two adjacent bf16 of one W
// row; NR rows read side by side.
static void pack_b_pairs(Word* __restrict dst, const GemmProblem<bf16>& p, long q0, long kc2, long j0, long nc) {
    constexpr int NR = Bf16Cfg::NR;
    if (!p.tb) pack_interleaved<NR>(dst, p.b + j0, p.ldb, p.K, q0, kc2, nc / NR);
    for (long jp = p.tb ? 0 : nc / NR * NR; jp < nc; jp += NR) {  // (K,N) B: the edge panel only
        const int nr = (int)hmin<long>(NR, nc - jp);
        Word* d = dst + jp * kc2;
        long q = 0;
        if (p.tb && nr == NR) {
            // W rows: 16 x 16 word transposes (the bits move, nothing is computed)
            const bf16* src = p.b + (j0 + jp) * p.ldb;
            for (; q + 16 <= kc2 && 2 * (q0 + q + 16) <= p.K; q += 16) {
#pragma GCC unroll 2
                for (int v = 0; v < NR / 16; ++v) {
                    Vec<float>::V r[16];
#pragma GCC unroll 16
                    for (int w = 0; w < 16; ++w) std::memcpy(&r[w], src + (v * 16 + w) * p.ldb + 2 * (q0 + q), sizeof r[w]);
                    transpose_inplace<float>(r);
#pragma GCC unroll 16
                    for (int w = 0; w < 16; ++w) std::memcpy(d + (q + w) * NR + v * 16, &r[w], sizeof r[w]);
                }
            }
        }
        for (; q < kc2; ++q) {
            const long k = 2 * (q0 + q);
            for (int j = 0; j < NR; ++j) {
                const long c = j0 + jp + j;
                d[q * NR + j] = j >= nr ? 0u : p.tb ? pair_in_row(p.b + c * p.ldb, k, p.K)
                                                    : pair_in_column(p.b, p.ldb, k, c, p.K);
            }
        }
    }
}

// Epilogue of finished float32 sums: (+ bias) -> activation -> bf16, n values.
__attribute__((noinline)) static void bf16_finish_row(const float* s, long n, const float* bias, int act, bf16* c) {
    constexpr int L = Bf16Cfg::L;
    long j = 0;
    for (; j + L <= n; j += L) {
        const U16H h = round_to_bf16(v_act<float>(loadu(s + j) + (bias ? loadu(bias + j) : Vec<float>::V{}), act));
        std::memcpy(c + j, &h, sizeof h);
    }
    if (j < n) {  // the last n - j < L values through zero-padded copies
        alignas(64) float t[L] = {}, b[L] = {};
        std::memcpy(t, s + j, (n - j) * sizeof(float));
        if (bias) std::memcpy(b, bias + j, (n - j) * sizeof(float));
        const U16H h = round_to_bf16(v_act<float>(loadu(t) + loadu(b), act));
        std::memcpy(c + j, &h, (n - j) * sizeof(bf16));
    }
}
// A finished ROWS x NR tile, n <= NR columns stored.
template <int ROWS> __attribute__((noinline)) void bf16_store_tile(const float* tile, bf16* C, long ldc, int n,
                                                                     const float* bias, int act) {
    for (int i = 0; i < ROWS; ++i) bf16_finish_row(tile + i * Bf16Cfg::NR, n, bias, act, C + i * ldc);
}

// ROWS x 32 tile: acc += sum over pairs q of A(q) . B(q), vdpbf16ps per (row, vector).
// A: MR words per pair (the packed panel); B: NR words per pair.  Partial sums of
// earlier K blocks live in float32 in `part` (row stride ldp, NR columns always
// valid); the last block adds bias, applies the activation and stores bf16 to C.
template <int ROWS>
__attribute__((noinline)) void bf16_ukernel(long kc2, const Word* __restrict A, const Word* __restrict B,
                                            float* __restrict part, long ldp, bf16* __restrict C, long ldc, int n,
                                            int flags, const float* __restrict bias, int act) {
    constexpr int MR = Bf16Cfg::MR, NV = Bf16Cfg::NV, L = Bf16Cfg::L, NR = Bf16Cfg::NR;
    __m512 acc[ROWS][NV];
#pragma GCC unroll 64
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (long q = 0; q < kc2; ++q) {
        const Word* bp = B + q * NR;
        __builtin_prefetch(bp + PFB * NR, 0, 3);
        __builtin_prefetch(bp + PFB * NR + L, 0, 3);
        __builtin_prefetch(A + (q + PFA) * MR, 0, 3);
        __m512bh b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(bp + v * L);
        const Word* ap = A + q * MR;
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, b[v]);
        }
    }
    if (flags & F_ACC) {
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_loadu_ps(part + i * ldp + v * L));
    }
    if (!(flags & F_LAST)) {
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) _mm512_storeu_ps(part + i * ldp + v * L, acc[i][v]);
        return;
    }
    if (n == NR && act != ACT_GELU) {
        // a full tile: bias, relu and rounding in registers (through a stored tile it cost as
        // much as the multiply-adds at K = 128: BERT's layers).  gelu stays out of line below:
        // its polynomial in here would make GCC spill accumulators in the loop above.
        using V = Vec<float>::V;
        V bv[NV] = {};
        if (bias) {
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) bv[v] = loadu(bias + v * L);
        }
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                V c = (V)acc[i][v] + bv[v];
                if (act == ACT_RELU) c = v_relu(c);
                const U16H h = round_to_bf16(c);
                std::memcpy(C + i * ldc + v * L, &h, sizeof h);
            }
        return;
    }
    alignas(64) float tile[ROWS * NR];
#pragma GCC unroll 64
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) _mm512_store_ps(tile + i * NR + v * L, acc[i][v]);
    bf16_store_tile<ROWS>(tile, C, ldc, n, bias, act);
}
using BUK = void (*)(long, const Word*, const Word*, float*, long, bf16*, long, int, int, const float*, int);
template <int... R> constexpr BUK bf16_pick(int rows, std::integer_sequence<int, R...>) {
    constexpr BUK tab[] = {nullptr, &bf16_ukernel<R + 1>...};
    return tab[rows];
}
HK_ALWAYS_INLINE BUK bf16_kernel_for(int rows) {
    return bf16_pick(rows, std::make_integer_sequence<int, Bf16Cfg::MR>{});
}

// C rows [m0, m1) x columns [n0, n1) on the calling thread with its own buffers.
// bias: float32, per column (already widened), or nullptr.
static void bf16_block(const GemmProblem<bf16>& p, const float* bias, long m0, long m1, long n0, long n1) {
    using C = Bf16Cfg;
    constexpr int MR = C::MR, NR = C::NR;
    const long K2 = (p.K + 1) / 2;
    const long nkb = K2 <= C::KC2_ONE ? 1 : (K2 + C::KC2 - 1) / C::KC2;
    const long KC2 = (K2 + nkb - 1) / nkb;  // equal K blocks
    const long M3 = hmin(m1 - m0, C::M3), NB = hmin(n1 - n0, C::NB);
    Word* Ap = (Word*)tl_bufA.get(round_up<float>(M3, MR) * KC2 * sizeof(Word));
    Word* Bp = (Word*)tl_bufB.get(round_up<float>(NB, NR) * KC2 * sizeof(Word));
    // float32 partial sums across K blocks: M3 rows x the columns, NR-padded
    static thread_local PackBuf tl_part;
    const long ldp = round_up<float>(n1 - n0, NR);
    float* part = nkb > 1 ? (float*)tl_part.get(M3 * ldp * sizeof(float)) : nullptr;
    for (long i3 = m0; i3 < m1; i3 += M3) {
        const long m3 = hmin(M3, m1 - i3);
        for (long q0 = 0; q0 < K2; q0 += KC2) {
            const long kc2 = hmin(KC2, K2 - q0);
            const int flags = (q0 > 0 ? F_ACC : 0) | (q0 + kc2 == K2 ? F_LAST : 0);
            pack_a_pairs(Ap, p, i3, m3, q0, kc2);
            for (long j2 = n0; j2 < n1; j2 += NB) {
                const long nb = hmin(NB, n1 - j2);
                pack_b_pairs(Bp, p, q0, kc2, j2, nb);
                for (long ir = 0; ir < m3; ir += MR) {
                    const int mr = (int)hmin<long>(MR, m3 - ir);
                    const BUK uk = bf16_kernel_for(mr);
                    for (long jr = 0; jr < nb; jr += NR) {
                        const long col = j2 + jr;
                        uk(kc2, Ap + ir * kc2, Bp + jr * kc2, part ? part + ir * ldp + (col - n0) : nullptr, ldp,
                           p.c + (i3 + ir) * p.ldc + col, p.ldc, (int)hmin<long>(NR, n1 - col), flags,
                           bias ? bias + col : nullptr, p.act);
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------ few rows x W^T
// x . W^T with few rows (nn.Linear at small batch): every output is a dot product of
// an x row and a W row, both contiguous in k, so W streams from memory exactly once
// with no packing (the packed route re-lays W out first: 1 x 1024 x 1024 ran at 0.8x
// torch).  32 bf16 = 16 k-pairs per vector; a K tail is a masked load (zeros add
// nothing).  ROWS x JB float32 accumulators; lane sums by halving at the end.
template <int ROWS, int JB>
__attribute__((noinline)) void bf16_dot_kernel(long K, const bf16* __restrict xp, const bf16* __restrict w,
                                               long ldw, int nj, float* __restrict S, long lds, bool accum) {
    __m512 acc[ROWS][JB];
#pragma GCC unroll 64
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 64
        for (int j = 0; j < JB; ++j) acc[i][j] = _mm512_setzero_ps();
    const bf16* wr[JB];
    for (int j = 0; j < JB; ++j) wr[j] = w + (j < nj ? j : 0) * ldw;
    auto step = [&](long k, __mmask32 m) __attribute__((always_inline)) {
        __m512bh xv[ROWS];
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i) xv[i] = (__m512bh)_mm512_loadu_si512(xp + (k / 32 * ROWS + i) * 32);
#pragma GCC unroll 64
        for (int j = 0; j < JB; ++j) {
            __builtin_prefetch(wr[j] + k + kDotPrefetch / sizeof(bf16), 0, 3);
            const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(m, wr[j] + k);
#pragma GCC unroll 64
            for (int i = 0; i < ROWS; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv[i], wv);
        }
    };
    long k = 0;
    for (; k + 32 <= K; k += 32) step(k, ~__mmask32(0));
    if (k < K) step(k, (__mmask32(1) << (K - k)) - 1);
#pragma GCC unroll 64
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 64
        for (int j = 0; j < JB; ++j)
            if (j < nj) S[i * lds + j] = lane_sum<float>((Vec<float>::V)acc[i][j]) + (accum ? S[i * lds + j] : 0.f);
}
using BDK = void (*)(long, const bf16*, const bf16*, long, int, float*, long, bool);
constexpr int kBf16DotRows = 8;  // rows per bf16_dot_kernel call
// Dot products or the packed route for x . W^T: the packed route re-lays all of W out
// (16 x 16 word transposes) before it multiplies, which costs about as much as 16-32
// rows of multiply-adds; dot products pay lane sums instead (amortised over K).
// Measured, 1 thread, Zen 5 (dot vs packed GFLOP/s): 16x1024^2 330 vs 168, 16x512^2
// 252 vs 182, 32x512^2 175 vs 223, 64x256^2 135 vs 195, 32x1024^2 218 vs 233.
HK_ALWAYS_INLINE bool bf16_dot_wins(long M, long K) { return M <= 16 || 32 * M <= K; }
template <int... R> constexpr BDK bf16_dot_pick(int rows, std::integer_sequence<int, R...>) {
    constexpr BDK tab[] = {nullptr, &bf16_dot_kernel<R + 1, dot_jb(R + 1)>...};
    return tab[rows];
}

// C[:, n0:n1] by dot products (x row-major, op(B) = W^T).  Blocks: K (kBf16DotRows
// rows of x, 4 KiB each, stay in L1) x W rows (an L2 block of 256 KiB swept by every
// row block of x).  Sums stay float32 (S, M x JC) until the W block's epilogue: one
// per row and block, not one per kernel call (per call, it cost as much as the dot
// products at 8 rows).
static void bf16_dot_chunk(const GemmProblem<bf16>& p, const float* bias, long n0, long n1) {
    constexpr long KD = 2048;  // K block
    const long K = p.K, kd = hmin(K, KD);
    const long JC = hmax<long>(16, (256 << 10) / long(sizeof(bf16)) / kd);
    const long lds = hmin(JC, n1 - n0);
    float* S = (float*)tl_bufB.get(p.M * lds * sizeof(float));
    // x's rows interleaved by vectors, per block of kBf16DotRows rows: vector q of row i
    // of the block at i0 is at Xp + i0 Kp + (q rows + i) 32, zero padded to Kp.  One step
    // then reads `rows` consecutive vectors (x rows 2 KiB apart crowd a few L1 sets).
    const long Kp = round_up<float>(K, 32);
    bf16* Xp = (bf16*)tl_bufA.get(p.M * Kp * sizeof(bf16));
    for (long i0 = 0; i0 < p.M; i0 += kBf16DotRows) {
        const int rows = (int)hmin<long>(kBf16DotRows, p.M - i0);
        for (int i = 0; i < rows; ++i)
            for (long q = 0; q * 32 < K; ++q) {
                bf16* d = Xp + i0 * Kp + (q * rows + i) * 32;
                const long n = hmin<long>(32, K - q * 32);
                std::memcpy(d, p.a + (i0 + i) * p.lda + q * 32, n * sizeof(bf16));
                std::memset(d + n, 0, (32 - n) * sizeof(bf16));
            }
    }
    for (long jc = n0; jc < n1; jc += JC) {
        const long je = hmin(n1, jc + JC);
        for (long pc = 0; pc < K; pc += KD) {
            const long kc = hmin(KD, K - pc);
            for (long i0 = 0; i0 < p.M; i0 += kBf16DotRows) {
                const int rows = (int)hmin<long>(kBf16DotRows, p.M - i0);
                const BDK dk = bf16_dot_pick(rows, std::make_integer_sequence<int, kBf16DotRows>{});
                const int jb = dot_jb(rows);
                for (long j = jc; j < je; j += jb)
                    dk(kc, Xp + i0 * Kp + pc * rows, p.b + j * p.ldb + pc, p.ldb, (int)hmin<long>(jb, je - j),
                       S + i0 * lds + (j - jc), lds, pc > 0);
            }
        }
        for (long i = 0; i < p.M; ++i)
            bf16_finish_row(S + i * lds, je - jc, bias ? bias + jc : nullptr, p.act, p.c + i * p.ldc + jc);
    }
}

// ------------------------------------------------------------------ few rows x (K,N) B
// op(A) B with few rows and B (K,N) row-major (a batch-1..16 matmul, a linear layer's
// input gradient g . W): B is read in place, once, and re-laid out in registers --
// rows k and k + 1 interleaved into k-pair words (vpunpck{l,h}wd + a lane fix-up) --
// instead of being packed to memory first (which costs as much as the multiply-adds
// at these row counts).  A strip of 16 NV columns walks down all of K with ROWS x NV
// float32 accumulators in registers: NV = 4 up to 6 rows, 2 up to 12 (one pass over B
// for up to 12 rows).  Ap: ROWS words per k-pair.  Same run, 1 thread, Zen 5, GFLOP/s
// streamed vs packed vs torch: 1x1024^2 27 / 16 / 18, 4x1024^2 124 / 61 / 81,
// 8x1024^2 153 / 117 / 123, 12x1024^2 253 / 154 / 164, 8x512^2 199 / 112 / 115.
constexpr int kKnRows = 12;
constexpr int kn_nv(int rows) { return rows <= 6 ? 4 : 2; }  // ROWS x NV + NV + 1 <= 32 zmm
template <int ROWS, int NV>
__attribute__((noinline)) void bf16_kn_kernel(long K, const Word* __restrict Ap, const bf16* __restrict B, long ldb,
                                              int n, float* __restrict S) {
    constexpr int PF = 8;  // k-pairs ahead: B rows from memory into L1
    __mmask32 mask[NV / 2];  // the valid columns of each 32-column half
#pragma GCC unroll 2
    for (int h = 0; h < NV / 2; ++h) {
        const int valid = n - 32 * h;
        mask[h] = valid >= 32 ? ~__mmask32(0) : valid <= 0 ? 0 : (__mmask32(1) << valid) - 1;
    }
    __m512 acc[ROWS][NV];
#pragma GCC unroll 64
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    const long K2 = (K + 1) / 2;
    for (long q = 0; q < K2; ++q) {
        const bf16* r0 = B + 2 * q * ldb;
        const bool pair = 2 * q + 1 < K;
        __m512bh w[NV];
#pragma GCC unroll 2
        for (int h = 0; h < NV / 2; ++h) {
            __builtin_prefetch(r0 + 2 * PF * ldb + 32 * h, 0, 3);
            __builtin_prefetch(r0 + (2 * PF + 1) * ldb + 32 * h, 0, 3);
            const __m512i x0 = _mm512_maskz_loadu_epi16(mask[h], r0 + 32 * h);
            const __m512i x1 = pair ? _mm512_maskz_loadu_epi16(mask[h], r0 + ldb + 32 * h) : _mm512_setzero_si512();
            __m512i words[2];
            interleave_rows(x0, x1, words);
            w[2 * h] = (__m512bh)words[0];
            w[2 * h + 1] = (__m512bh)words[1];
        }
        const Word* ap = Ap + q * ROWS;
#pragma GCC unroll 64
        for (int i = 0; i < ROWS; ++i) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, w[v]);
        }
    }
#pragma GCC unroll 64
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) _mm512_storeu_ps(S + i * 64 + v * 16, acc[i][v]);
}
using BKN = void (*)(long, const Word*, const bf16*, long, int, float*);
template <int... R> constexpr BKN bf16_kn_pick(int rows, std::integer_sequence<int, R...>) {
    constexpr BKN tab[] = {nullptr, &bf16_kn_kernel<R + 1, kn_nv(R + 1)>...};
    return tab[rows];
}

// C[:, n0:n1] for M <= kKnRows rows of op(A) and (K,N) B: one pass over B's columns in
// strips.  (More rows in several blocks lose to the packed route: each block re-reads
// B, and a strip kept for the next block walks down B at a stride of ldb, which
// thrashes the L2 sets when ldb is a power of two: 24 x 2048 x 2048 ran at 25 GFLOP/s.)
static void bf16_kn_chunk(const GemmProblem<bf16>& p, const float* bias, long n0, long n1) {
    const int rows = (int)p.M;
    const long K2 = (p.K + 1) / 2;
    Word* Ap = (Word*)tl_bufA.get(rows * K2 * sizeof(Word));
    for (long q = 0; q < K2; ++q)
        for (int i = 0; i < rows; ++i)
            Ap[q * rows + i] = p.ta ? pair_in_column(p.a, p.lda, 2 * q, i, p.K) : pair_in_row(p.a + i * p.lda, 2 * q, p.K);
    const BKN kern = bf16_kn_pick(rows, std::make_integer_sequence<int, kKnRows>{});
    alignas(64) float S[kKnRows * 64];
    const long strip = 16 * kn_nv(rows);
    for (long j = n0; j < n1; j += strip) {
        const int n = (int)hmin<long>(strip, n1 - j);
        kern(p.K, Ap, p.b + j, p.ldb, n, S);
        for (int i = 0; i < rows; ++i)
            bf16_finish_row(S + i * 64, n, bias ? bias + j : nullptr, p.act, p.c + i * p.ldc + j);
    }
}

// The whole problem.  Takes K > 0, a bias per column (or none) and C overwritten:
// the HAL's gemm; the caller sends anything else to the widened route.
void k_gemm_bf16_dot(const GemmProblem<bf16>& p, const Parallel& par) {
    constexpr int MR = Bf16Cfg::MR, NR = Bf16Cfg::NR;
    const long M = p.M, N = p.N;
    if (M <= 0 || N <= 0) return;
    // the bias widened once, NR-padded (the epilogue reads whole vectors)
    PackBuf biasbuf;
    float* bias = nullptr;
    if (p.bias) {
        bias = (float*)biasbuf.get(round_up<float>(N, NR) * sizeof(float));
        bf16_to_f32_n(p.bias, bias, N);
        std::memset(bias + N, 0, (round_up<float>(N, NR) - N) * sizeof(float));
    }
    const bool dot = p.tb && !p.ta && bf16_dot_wins(M, p.K);
    const bool kn = !p.tb && M <= kKnRows;
    const double work = double(M) * N * p.K * (dot || kn ? 4 : 1);  // B streamed: memory-bound, B weighs more
    const int nt = par.threads > 1 && work >= kSplitMacs ? par.threads : 1;
    if (dot || kn) {  // one contiguous range of B columns per thread: long sequential reads
        auto part = [&](long t) {
            long lo, hi;
            split_range(N, t, nt, dot ? 16 : 64, lo, hi);
            if (hi > lo) (dot ? bf16_dot_chunk : bf16_kn_chunk)(p, bias, lo, hi);
        };
        return par_for(par, nt, part);
    }
    if (nt == 1) return bf16_block(p, bias, 0, M, 0, N);
    // rows split when each thread gets whole MR panels to spare, else columns
    const bool by_rows = M >= 4L * MR * nt;
    auto part = [&](long t) {
        long lo, hi;
        if (by_rows) {
            split_range(M, t, nt, MR, lo, hi);
            if (hi > lo) bf16_block(p, bias, lo, hi, 0, N);
        } else {
            split_range(N, t, nt, NR, lo, hi);
            if (hi > lo) bf16_block(p, bias, 0, M, lo, hi);
        }
    };
    par_for(par, nt, part);
}
