// 2-D convolution (NCHW output, torch's cross-correlation) and its two
// gradients, one ISA.  Included by kernels_impl.hpp inside namespace
// halkit::HALKIT_ISA_NS, after gemm_impl.hpp.
//
// The input is addressed through strides, so an NCHW array and a channels-last
// (NHWC-dense) one run the same code.  Two routes:
//   * GEMM (any group with more than a few channels): per image and group,
//     Y_g (O/g x pixels) = W_g (O/g x C/g.kh.kw) . col (C/g.kh.kw x pixels) with the
//     bias fused per row; col is built in C++ (im2col) a block of pixels at a
//     time into a per-thread buffer, or is the input itself for a 1x1, stride-1,
//     unpadded NCHW convolution.  The gradients are the transposed GEMMs plus a
//     col2im scatter-add (input) or an accumulation over images (weight).
//   * direct (depthwise-like groups: few input and output channels per group):
//     shifted multiply-adds along output rows, vectorised where the stride is 1.
// Work is split over images x groups (x pixel blocks) when there are enough of
// them for the threads, else the GEMMs themselves run threaded.

// Which route a geometry takes: direct when each group is tiny (a GEMM with 1-4
// rows and 9 columns of K is all overhead).
HK_ALWAYS_INLINE bool conv_direct(const ConvGeom& g) { return g.C / g.groups <= 4 && g.O / g.groups <= 4; }

HK_ALWAYS_INLINE long ceil_div_nonneg(long a, long b) { return a <= 0 ? 0 : (a + b - 1) / b; }

// Output columns [lo, hi) whose input column ow*sw - pw + j*dw falls inside [0, W).
HK_ALWAYS_INLINE void valid_cols(const ConvGeom& g, long j, long& lo, long& hi) {
    const long off = j * g.dw - g.pw;  // iw = ow * sw + off
    lo = ceil_div_nonneg(-off, g.sw);
    hi = off >= g.W ? 0 : (g.W - 1 - off) / g.sw + 1;
    if (hi > g.OW) hi = g.OW;
    if (lo > hi) lo = hi;
}

// x's element strides (n, c, h, w): NCHW-dense or NHWC-dense.
struct XStrides {
    long n, c, h, w;
};
HK_ALWAYS_INLINE XStrides x_strides(const ConvGeom& g) {
    if (g.x_nhwc) return XStrides{g.H * g.W * g.C, 1, g.W * g.C, g.C};
    return XStrides{g.C * g.H * g.W, g.H * g.W, g.W, 1};
}

static thread_local PackBuf tl_col;      // im2col / col2im block of this thread
static thread_local PackBuf tl_partial;  // the weight gradient's per-thread partial sums

// Short runs (an output row of a small image is 2-32 values) move in a few
// fixed-size, possibly overlapping, copies.  No loops at all below 64 bytes: GCC
// turns a short copy or zero loop into a memcpy / memset call, which cost more
// than the copy itself (im2col ran at 0.6 ns per value).
template <size_t B> HK_ALWAYS_INLINE void move_bytes(char* d, const char* s) { std::memcpy(d, s, B); }
HK_ALWAYS_INLINE void move_small(char* d, const char* s, size_t n) {  // n < 64 bytes, a multiple of 4
    if (n >= 32) {
        move_bytes<32>(d, s);
        move_bytes<32>(d + n - 32, s + n - 32);
    } else if (n >= 16) {
        move_bytes<16>(d, s);
        move_bytes<16>(d + n - 16, s + n - 16);
    } else if (n >= 8) {
        move_bytes<8>(d, s);
        move_bytes<8>(d + n - 8, s + n - 8);
    } else if (n >= 4) {
        move_bytes<4>(d, s);
        move_bytes<4>(d + n - 4, s + n - 4);
    }
}
template <class T> HK_ALWAYS_INLINE void copy_run(T* __restrict d, const T* __restrict s, long n) {
    const size_t bytes = size_t(n) * sizeof(T);
    if (bytes < 64) return move_small((char*)d, (const char*)s, bytes);
    size_t i = 0;
    for (; i + 64 <= bytes; i += 64) move_bytes<64>((char*)d + i, (const char*)s + i);
    if (i < bytes) move_bytes<64>((char*)d + bytes - 64, (const char*)s + bytes - 64);
}
template <class T> HK_ALWAYS_INLINE void zero_run(T* d, long n) {
    alignas(64) static const char zeros[64] = {};
    const size_t bytes = size_t(n) * sizeof(T);
    if (bytes < 64) return move_small((char*)d, zeros, bytes);
    size_t i = 0;
    for (; i + 64 <= bytes; i += 64) move_bytes<64>((char*)d + i, zeros);
    if (i < bytes) move_bytes<64>((char*)d + bytes - 64, zeros);
}
// d[ow] = xr[2 ow] for ow in [0, n): even lanes of two vectors per output vector
// while the reads stay inside the row (2 ow + 1 < avail), then one by one.
template <class T> HK_ALWAYS_INLINE void gather_stride2(T* __restrict d, const T* __restrict xr, long n, long avail) {
    constexpr int L = Vec<T>::L;
    using I = typename Vec<T>::I;
    constexpr I even = Shuf<T>::evens();
    long ow = 0;
    for (; ow + L <= n && 2 * (ow + L) <= avail; ow += L)
        storeu(d + ow, __builtin_shuffle(loadu(xr + 2 * ow), loadu(xr + 2 * ow + L), even));
    for (; ow < n; ++ow) d[ow] = xr[2 * ow];
}

// col[((c*kh + i)*kw + j) * ldcol + (oh - oh0) * OW + ow] for the output rows
// [oh0, oh1) of image n, group gi: per (c, i, j) and output row, zeros where the
// tap falls in the padding and a shifted copy of an input row (gathered when
// strided or channels-last) in between.
template <class T>
void im2col(const ConvGeom& g, const T* __restrict x, long n, long gi, long oh0, long oh1, T* __restrict col,
            long ldcol) {
    const XStrides s = x_strides(g);
    const long Cg = g.C / g.groups, OW = g.OW;
    for (long c = 0; c < Cg; ++c) {
        const T* xc = x + n * s.n + (gi * Cg + c) * s.c;
        for (long i = 0; i < g.kh; ++i) {
            for (long j = 0; j < g.kw; ++j) {
                T* __restrict dst = col + ((c * g.kh + i) * g.kw + j) * ldcol;
                long lo, hi;
                valid_cols(g, j, lo, hi);
                const long woff = j * g.dw - g.pw;
                for (long oh = oh0; oh < oh1; ++oh, dst += OW) {
                    const long ih = oh * g.sh - g.ph + i * g.dh;
                    if (ih < 0 || ih >= g.H || lo >= hi) {
                        zero_run(dst, OW);
                        continue;
                    }
                    const T* __restrict xr = xc + ih * s.h;
                    zero_run(dst, lo);
                    if (s.w == 1 && g.sw == 1) copy_run(dst + lo, xr + lo + woff, hi - lo);
                    else if (s.w == 1 && g.sw == 2) gather_stride2(dst + lo, xr + 2 * lo + woff, hi - lo, g.W - 2 * lo - woff);
                    else for (long ow = lo; ow < hi; ++ow) dst[ow] = xr[(ow * g.sw + woff) * s.w];
                    zero_run(dst + hi, OW - hi);
                }
            }
        }
    }
}

// dx (NCHW, image n, group gi) += col2im(col) for the channels [c0, c1) of the group;
// col holds the whole image's pixels, rows ldcol apart.
template <class T>
void col2im_add(const ConvGeom& g, const T* col, long ldcol, long n, long gi, long c0, long c1, T* dx) {
    const long Cg = g.C / g.groups;
    for (long c = c0; c < c1; ++c) {
        T* dc = dx + (n * g.C + gi * Cg + c) * g.H * g.W;
        for (long i = 0; i < g.kh; ++i) {
            for (long j = 0; j < g.kw; ++j) {
                const T* src = col + ((c * g.kh + i) * g.kw + j) * ldcol;
                long lo, hi;
                valid_cols(g, j, lo, hi);
                const long woff = j * g.dw - g.pw;
                for (long oh = 0; oh < g.OH; ++oh) {
                    const long ih = oh * g.sh - g.ph + i * g.dh;
                    if (ih < 0 || ih >= g.H || lo >= hi) continue;
                    T* dr = dc + ih * g.W;
                    const T* sr = src + oh * g.OW;
                    if (g.sw == 1) {
                        for (long ow = lo; ow < hi; ++ow) dr[ow + woff] += sr[ow];
                    } else {
                        for (long ow = lo; ow < hi; ++ow) dr[ow * g.sw + woff] += sr[ow];
                    }
                }
            }
        }
    }
}

// How the GEMM route cuts the batch into units of work: a unit is `imgs` whole
// images (small images: their pixels side by side, so that one GEMM has enough
// columns and the weights are read once for all of them) or `pix` pixels of one
// image (large images).  Either way the unit's im2col block (K x columns) is
// about 1 MiB.  whole: units of whole images only (col2im must not race).
struct ConvUnits {
    long imgs, pix, img_blocks, pix_blocks, groups;  // pix: a multiple of OW
    long count() const { return img_blocks * pix_blocks * groups; }
    // unit t -> images [n0, n1), pixels [p0, p1), group gi
    void at(long t, long N, long P, long& n0, long& n1, long& p0, long& p1, long& gi) const {
        gi = t % groups;
        const long pb = (t / groups) % pix_blocks, ib = t / groups / pix_blocks;
        n0 = ib * imgs, n1 = hmin(N, n0 + imgs), p0 = pb * pix, p1 = hmin(P, p0 + pix);
    }
};
template <class T> ConvUnits conv_units(const ConvGeom& g, long K, bool whole) {
    constexpr long NR = Cfg<T>::NR;
    const long P = g.OH * g.OW;
    const long cols = hmax<long>(4 * NR, (long(1) << 18) / hmax<long>(K, 1) / NR * NR);
    ConvUnits u{1, P, 1, 1, g.groups};
    if (P >= cols && !whole) {
        u.pix = hmax(g.OW, cols / g.OW * g.OW);  // whole output rows
    } else {
        const long per = hmax<long>(1, cols / hmax<long>(P, 1));
        const long blocks = hmax<long>(1, (g.N + per - 1) / per);
        u.imgs = hmax<long>(1, (g.N + blocks - 1) / blocks);  // balanced blocks
    }
    u.img_blocks = (g.N + u.imgs - 1) / u.imgs;
    u.pix_blocks = (P + u.pix - 1) / hmax<long>(u.pix, 1);
    return u;
}

// Row stride of a scratch matrix of n columns: a multiple of 1 KiB would put the
// rows a GEMM micro-kernel walks down into the same few cache sets.
HK_ALWAYS_INLINE long scratch_ld(long n) {
    long ld = (n + 15) / 16 * 16;
    return ld % 256 == 0 ? ld + 16 : ld;
}
// Whether an operand can be read in place with row stride ld (else it is copied
// into a scratch matrix first, for the reason above).
HK_ALWAYS_INLINE bool alias_free(long ld) { return ld % 256 != 0; }

static thread_local PackBuf tl_ctmp;   // a unit's GEMM result or gathered gradient (images side by side)
static thread_local PackBuf tl_wpack;  // the weights packed for the whole call (the calling thread's)

HK_ALWAYS_INLINE bool conv_is_pointwise(const ConvGeom& g) {
    return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && !g.x_nhwc;
}

// Threads across tasks (each task serial) when there are enough tasks, else one
// task after the other with threaded GEMMs inside.
HK_ALWAYS_INLINE bool tasks_in_parallel(const Parallel& par, long tasks, double macs) {
    return par.threads > 1 && tasks >= 2L * par.threads && macs >= kSplitMacs;
}

// The weights as the A operand of every unit's GEMM: W_g (Og x K) for the
// forward pass, W_g^T (K x Og) for the input gradient.  Packed once per call
// (for every group, in parallel) when enough pixels share them; read in place
// when few do (deep layers: packing would copy more than the GEMM computes).
template <class T> struct WeightsA {
    const T* w;
    long Og, K, groups, M, Mpad, kdim;
    bool at;
    T* packed = nullptr;
    WeightsA(const T* w_, long Og_, long K_, long groups_, double pixels, bool at_, const Parallel& par)
        : w(w_), Og(Og_), K(K_), groups(groups_), M(at_ ? K_ : Og_), Mpad(round_up<T>(M, Cfg<T>::MR)),
          kdim(at_ ? Og_ : K_), at(at_) {
        if (pixels < 256 || M == 0 || kdim == 0) return;
        packed = (T*)tl_wpack.get(sizeof(T) * groups * Mpad * kdim);
        auto pack = [&](long gi) {
            const T* wg = w + gi * Og * K;
            T* dst = packed + gi * Mpad * kdim;
            if (!at) {
                pack_a_blocks(wg, M, kdim, dst);
                return;
            }
            // W_g^T: A = a stored transposed (K x Og row-major is W_g itself read column-wise)
            GemmProblem<T> p{wg, nullptr, nullptr, nullptr, M, 0, kdim, K, 0, 0, true, false, ACT_NONE};
            const long KC = kblock<T>(kdim);
            for (long pc = 0; pc < kdim; pc += KC) pack_A(dst + pc * Mpad, p, 0, M, pc, hmin(KC, kdim - pc));
        };
        if (par.threads > 1 && groups > 1 && double(groups) * M * kdim >= double(1L << 18)) par_for(par, groups, pack);
        else for (long gi = 0; gi < groups; ++gi) pack(gi);
    }
    InplaceA<T> operator()(long gi) const {
        return InplaceA<T>{w + gi * Og * K, K, at, packed ? packed + gi * Mpad * kdim : nullptr, M};
    }
};

// ------------------------------------------------------------------ forward
template <class T>
void conv_direct_fwd(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, long n, long o) {
    const XStrides s = x_strides(g);
    const long Cg = g.C / g.groups, Og = g.O / g.groups, gi = o / Og, P = g.OH * g.OW;
    T* yo = y + (n * g.O + o) * P;
    const T b0 = bias ? bias[o] : T(0);
    for (long p = 0; p < P; ++p) yo[p] = b0;
    for (long c = 0; c < Cg; ++c) {
        const T* xc = x + n * s.n + (gi * Cg + c) * s.c;
        for (long i = 0; i < g.kh; ++i) {
            for (long j = 0; j < g.kw; ++j) {
                const T wv = w[((o * Cg + c) * g.kh + i) * g.kw + j];
                long lo, hi;
                valid_cols(g, j, lo, hi);
                const long woff = j * g.dw - g.pw;
                for (long oh = 0; oh < g.OH; ++oh) {
                    const long ih = oh * g.sh - g.ph + i * g.dh;
                    if (ih < 0 || ih >= g.H) continue;
                    T* yr = yo + oh * g.OW;
                    const T* xr = xc + ih * s.h;
                    if (g.sw == 1 && s.w == 1) {
                        const T* xs = xr + woff;
                        for (long ow = lo; ow < hi; ++ow) yr[ow] += wv * xs[ow];
                    } else {
                        for (long ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[(ow * g.sw + woff) * s.w];
                    }
                }
            }
        }
    }
}

template <class T>
void k_conv2d(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, const Parallel& par) {
    const long Cg = g.C / g.groups, Og = g.O / g.groups, P = g.OH * g.OW, K = Cg * g.kh * g.kw;
    const double macs = double(g.N) * g.O * P * K;
    if (g.N == 0 || g.O == 0 || P == 0) return;
    if (conv_direct(g)) {
        const long tasks = g.N * g.O;
        auto task = [&](long t) { conv_direct_fwd(g, x, w, bias, y, t / g.O, t % g.O); };
        if (par.threads > 1 && macs >= kSplitMacs) par_for(par, tasks, task);
        else for (long t = 0; t < tasks; ++t) task(t);
        return;
    }
    const bool pointwise = conv_is_pointwise(g);
    const ConvUnits u = conv_units<T>(g, K, false);
    const long units = u.count();
    const WeightsA<T> weights(w, Og, K, g.groups, double(g.N) * P, false, par);
    // One unit: B = im2col (or x itself), C = y (one image) or a block scattered into y.
    auto prepare = [&](long t, const T*& B, long& ldb, T*& Cp, long& ldc) {
        long n0, n1, p0, p1, gi;
        u.at(t, g.N, P, n0, n1, p0, p1, gi);
        const long np = p1 - p0, nq = (n1 - n0) * np;
        if (pointwise && n1 - n0 == 1 && alias_free(P)) {
            B = x + (n0 * g.C + gi * Cg) * P + p0;
            ldb = P;
        } else {
            ldb = scratch_ld(nq);
            T* col = (T*)tl_col.get(K * ldb * sizeof(T));
            for (long n = n0; n < n1; ++n) im2col(g, x, n, gi, p0 / g.OW, p1 / g.OW, col + (n - n0) * np, ldb);
            B = col;
        }
        if (n1 - n0 == 1 && alias_free(P)) {
            Cp = y + (n0 * g.O + gi * Og) * P + p0;
            ldc = P;
        } else {
            ldc = scratch_ld(nq);
            Cp = (T*)tl_ctmp.get(Og * ldc * sizeof(T));
        }
    };
    auto run = [&](long t, const T* B, long ldb, T* Cp, long ldc, long m0, long m1) {
        long n0, n1, p0, p1, gi;
        u.at(t, g.N, P, n0, n1, p0, p1, gi);
        const long np = p1 - p0, nq = (n1 - n0) * np;
        gemm_inplace(weights(gi), B, ldb, K, nq, Cp, ldc, m0, m1, bias ? bias + gi * Og : nullptr, false);
        if (Cp != y + (n0 * g.O + gi * Og) * P + p0)  // the scratch result (images side by side) -> NCHW
            for (long o = m0; o < m1; ++o)
                for (long n = n0; n < n1; ++n)
                    std::memcpy(y + (n * g.O + gi * Og + o) * P + p0, Cp + o * ldc + (n - n0) * np, np * sizeof(T));
    };
    if (tasks_in_parallel(par, units, macs) || par.threads <= 1 || macs < kSplitMacs) {
        auto task = [&](long t) {
            const T* B;
            T* Cp;
            long ldb, ldc;
            prepare(t, B, ldb, Cp, ldc);
            run(t, B, ldb, Cp, ldc, 0, Og);
        };
        if (par.threads > 1 && macs >= kSplitMacs && units > 1) par_for(par, units, task);
        else for (long t = 0; t < units; ++t) task(t);
        return;
    }
    // Few units (deep layers: few pixels, many channels): one unit at a time, its
    // output channels split over the threads, all reading the caller's im2col block.
    for (long t = 0; t < units; ++t) {
        const T* B;
        T* Cp;
        long ldb, ldc;
        prepare(t, B, ldb, Cp, ldc);
        const long parts = hmin<long>(4L * par.threads, (Og + Cfg<T>::MR - 1) / Cfg<T>::MR);
        auto rows = [&](long r) {
            long m0, m1;
            split_range(Og, r, parts, Cfg<T>::MR, m0, m1);
            if (m1 > m0) run(t, B, ldb, Cp, ldc, m0, m1);
        };
        par_for(par, parts, rows);
    }
}

// ------------------------------------------------------------------ input gradient
// dx[n, c] for one input channel of a direct-route convolution (dx is zeroed).
template <class T> void conv_direct_dx(const ConvGeom& g, const T* dy, const T* w, T* dx, long n, long c) {
    const long Cg = g.C / g.groups, Og = g.O / g.groups, gi = c / Cg, cl = c % Cg, P = g.OH * g.OW;
    T* dc = dx + (n * g.C + c) * g.H * g.W;
    for (long ol = 0; ol < Og; ++ol) {
        const long o = gi * Og + ol;
        const T* dyo = dy + (n * g.O + o) * P;
        for (long i = 0; i < g.kh; ++i) {
            for (long j = 0; j < g.kw; ++j) {
                const T wv = w[((o * Cg + cl) * g.kh + i) * g.kw + j];
                long lo, hi;
                valid_cols(g, j, lo, hi);
                const long woff = j * g.dw - g.pw;
                for (long oh = 0; oh < g.OH; ++oh) {
                    const long ih = oh * g.sh - g.ph + i * g.dh;
                    if (ih < 0 || ih >= g.H) continue;
                    T* dr = dc + ih * g.W;
                    const T* sr = dyo + oh * g.OW;
                    if (g.sw == 1) {
                        for (long ow = lo; ow < hi; ++ow) dr[ow + woff] += wv * sr[ow];
                    } else {
                        for (long ow = lo; ow < hi; ++ow) dr[ow * g.sw + woff] += wv * sr[ow];
                    }
                }
            }
        }
    }
}

template <class T> void k_conv2d_input_grad(const ConvGeom& g, const T* dy, const T* w, T* dx, const Parallel& par) {
    const long Cg = g.C / g.groups, Og = g.O / g.groups, P = g.OH * g.OW, K = Cg * g.kh * g.kw;
    const double macs = double(g.N) * g.O * P * K;
    std::memset(dx, 0, sizeof(T) * g.N * g.C * g.H * g.W);
    if (g.N == 0 || g.C == 0 || P == 0) return;
    if (conv_direct(g)) {
        const long tasks = g.N * g.C;
        auto task = [&](long t) { conv_direct_dx(g, dy, w, dx, t / g.C, t % g.C); };
        if (par.threads > 1 && macs >= kSplitMacs) par_for(par, tasks, task);
        else for (long t = 0; t < tasks; ++t) task(t);
        return;
    }
    const bool pointwise = conv_is_pointwise(g);
    const ConvUnits u = conv_units<T>(g, K, true);  // whole images: col2im of one image must not be split
    const long units = u.count();
    const WeightsA<T> weights(w, Og, K, g.groups, double(g.N) * P, true, par);
    // One unit: B = dY (one image in place, or its images gathered side by side),
    // C = dcol (K x columns; for a pointwise conv of one image, dx itself).
    auto prepare = [&](long t, const T*& B, long& ldb, T*& Cp, long& ldc) {
        long n0, n1, p0, p1, gi;
        u.at(t, g.N, P, n0, n1, p0, p1, gi);
        const long nq = (n1 - n0) * P;
        if (n1 - n0 == 1 && alias_free(P)) {
            B = dy + (n0 * g.O + gi * Og) * P;
            ldb = P;
        } else {
            ldb = scratch_ld(nq);
            T* bt = (T*)tl_ctmp.get(Og * ldb * sizeof(T));
            for (long o = 0; o < Og; ++o)
                for (long n = n0; n < n1; ++n)
                    std::memcpy(bt + o * ldb + (n - n0) * P, dy + (n * g.O + gi * Og + o) * P, P * sizeof(T));
            B = bt;
        }
        if (pointwise && n1 - n0 == 1 && alias_free(P)) {
            Cp = dx + (n0 * g.C + gi * Cg) * P;
            ldc = P;
        } else {
            ldc = scratch_ld(nq);
            Cp = (T*)tl_col.get(K * ldc * sizeof(T));
        }
    };
    // rows [m0, m1) of dcol = W_g^T (K x Og) . B, then (unless dcol is dx) col2im for channels [c0, c1)
    auto gemm_rows = [&](long t, const T* B, long ldb, T* Cp, long ldc, long m0, long m1) {
        long n0, n1, p0, p1, gi;
        u.at(t, g.N, P, n0, n1, p0, p1, gi);
        gemm_inplace(weights(gi), B, ldb, Og, (n1 - n0) * P, Cp, ldc, m0, m1, (const T*)nullptr, false);
    };
    auto scatter = [&](long t, const T* Cp, long ldc, long c0, long c1) {
        long n0, n1, p0, p1, gi;
        u.at(t, g.N, P, n0, n1, p0, p1, gi);
        if (Cp == dx + (n0 * g.C + gi * Cg) * P) return;  // the GEMM wrote dx itself
        for (long n = n0; n < n1; ++n) col2im_add(g, Cp + (n - n0) * P, ldc, n, gi, c0, c1, dx);
    };
    if (tasks_in_parallel(par, units, macs) || par.threads <= 1 || macs < kSplitMacs) {
        auto task = [&](long t) {
            const T* B;
            T* Cp;
            long ldb, ldc;
            prepare(t, B, ldb, Cp, ldc);
            gemm_rows(t, B, ldb, Cp, ldc, 0, K);
            scatter(t, Cp, ldc, 0, Cg);
        };
        if (par.threads > 1 && macs >= kSplitMacs && units > 1) par_for(par, units, task);
        else for (long t = 0; t < units; ++t) task(t);
        return;
    }
    // Few units: one at a time, dcol's rows split over the threads, then col2im by channels.
    for (long t = 0; t < units; ++t) {
        const T* B;
        T* Cp;
        long ldb, ldc;
        prepare(t, B, ldb, Cp, ldc);
        const long parts = hmin<long>(4L * par.threads, (K + Cfg<T>::MR - 1) / Cfg<T>::MR);
        auto rows = [&](long r) {
            long m0, m1;
            split_range(K, r, parts, Cfg<T>::MR, m0, m1);
            if (m1 > m0) gemm_rows(t, B, ldb, Cp, ldc, m0, m1);
        };
        par_for(par, parts, rows);
        const long cparts = hmin<long>(4L * par.threads, Cg);
        auto chans = [&](long r) {
            long c0, c1;
            split_range(Cg, r, cparts, 1, c0, c1);
            if (c1 > c0) scatter(t, Cp, ldc, c0, c1);
        };
        par_for(par, cparts, chans);
    }
}

// ------------------------------------------------------------------ weight gradient
// dw[o] (all input channels of its group, all taps) of a direct-route convolution.
template <class T> void conv_direct_dw(const ConvGeom& g, const T* dy, const T* x, T* dw, long o) {
    const XStrides s = x_strides(g);
    const long Cg = g.C / g.groups, Og = g.O / g.groups, gi = o / Og, P = g.OH * g.OW;
    for (long c = 0; c < Cg; ++c) {
        for (long i = 0; i < g.kh; ++i) {
            for (long j = 0; j < g.kw; ++j) {
                long lo, hi;
                valid_cols(g, j, lo, hi);
                const long woff = j * g.dw - g.pw;
                double total = 0;
                for (long n = 0; n < g.N; ++n) {
                    const T* xc = x + n * s.n + (gi * Cg + c) * s.c;
                    const T* dyo = dy + (n * g.O + o) * P;
                    T acc = 0;
                    for (long oh = 0; oh < g.OH; ++oh) {
                        const long ih = oh * g.sh - g.ph + i * g.dh;
                        if (ih < 0 || ih >= g.H) continue;
                        const T* xr = xc + ih * s.h;
                        const T* sr = dyo + oh * g.OW;
                        if (g.sw == 1 && s.w == 1) {
                            const T* xs = xr + woff;
                            for (long ow = lo; ow < hi; ++ow) acc += sr[ow] * xs[ow];
                        } else {
                            for (long ow = lo; ow < hi; ++ow) acc += sr[ow] * xr[(ow * g.sw + woff) * s.w];
                        }
                    }
                    total += double(acc);
                }
                dw[((o * Cg + c) * g.kh + i) * g.kw + j] = T(total);
            }
        }
    }
}

template <class T> void k_conv2d_weight_grad(const ConvGeom& g, const T* dy, const T* x, T* dw, const Parallel& par) {
    const long Cg = g.C / g.groups, Og = g.O / g.groups, P = g.OH * g.OW, K = Cg * g.kh * g.kw;
    const double macs = double(g.N) * g.O * P * K;
    const long wsize = g.O * K;
    if (conv_direct(g)) {
        auto task = [&](long o) { conv_direct_dw(g, dy, x, dw, o); };
        if (par.threads > 1 && macs >= kSplitMacs) par_for(par, g.O, task);
        else for (long o = 0; o < g.O; ++o) task(o);
        return;
    }
    std::memset(dw, 0, sizeof(T) * wsize);
    if (g.N == 0 || P == 0) return;
    const bool pointwise = conv_is_pointwise(g);
    const ConvUnits u = conv_units<T>(g, K, false);
    const long units = u.count();
    // Units split over the threads, each summing into its own copy of dw; the
    // copies are added at the end.  With too few units the GEMMs run threaded.
    const bool across = tasks_in_parallel(par, units, macs);
    const long nparts = across ? hmin<long>(units, par.threads) : 1;
    const Parallel inner = across ? Parallel{1, nullptr} : par;
    T* partial = nullptr;
    if (nparts > 1) partial = (T*)tl_partial.get(sizeof(T) * wsize * (nparts - 1));
    auto part = [&](long r) {
        T* target = r == 0 ? dw : partial + (r - 1) * wsize;
        if (r > 0) std::memset(target, 0, sizeof(T) * wsize);
        long t0, t1;
        split_range(units, r, nparts, 1, t0, t1);
        for (long t = t0; t < t1; ++t) {
            long n0, n1, p0, p1, gi;
            u.at(t, g.N, P, n0, n1, p0, p1, gi);
            const long np = p1 - p0, nq = (n1 - n0) * np;
            const T *A, *B;
            long lda, ldb;
            if (n1 - n0 == 1) {
                A = dy + (n0 * g.O + gi * Og) * P + p0;
                lda = P;
            } else {  // the unit's images side by side
                lda = scratch_ld(nq);
                T* at = (T*)tl_ctmp.get(Og * lda * sizeof(T));
                for (long o = 0; o < Og; ++o)
                    for (long n = n0; n < n1; ++n)
                        std::memcpy(at + o * lda + (n - n0) * np, dy + (n * g.O + gi * Og + o) * P + p0, np * sizeof(T));
                A = at;
            }
            if (pointwise && n1 - n0 == 1) {
                B = x + (n0 * g.C + gi * Cg) * P + p0;
                ldb = P;
            } else {
                ldb = scratch_ld(nq);
                T* col = (T*)tl_col.get(K * ldb * sizeof(T));
                for (long n = n0; n < n1; ++n) im2col(g, x, n, gi, p0 / g.OW, p1 / g.OW, col + (n - n0) * np, ldb);
                B = col;
            }
            // dW_g (Og x K) += dY (Og x columns) . col^T (columns x K)
            GemmProblem<T> q{A, B, target + gi * Og * K, nullptr, Og, K, nq, lda, ldb, K, false, true, ACT_NONE};
            q.accumulate = true;
            k_gemm(q, inner);
        }
    };
    if (nparts > 1) par_for(par, nparts, part);
    else part(0);
    for (long r = 1; r < nparts; ++r) k_binary<T>(BIN_ADD, dw, partial + (r - 1) * wsize, dw, wsize);
}
