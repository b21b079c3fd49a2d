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

// col[((c*kh + i)*kw + j), p - p0] for output pixels p in [p0, p1) of image n, group gi.
template <class T>
void im2col(const ConvGeom& g, const T* x, long n, long gi, long p0, long p1, T* col) {
    const XStrides s = x_strides(g);
    const long Cg = g.C / g.groups, np = p1 - p0;
    for (long c = 0; c < Cg; ++c) {
        const T* xc = x + n * s.n + (gi * Cg + c) * s.c;
        for (long i = 0; i < g.kh; ++i) {
            for (long j = 0; j < g.kw; ++j) {
                T* dst = col + ((c * g.kh + i) * g.kw + j) * np;
                long lo, hi;
                valid_cols(g, j, lo, hi);
                const long woff = j * g.dw - g.pw;
                for (long p = p0; p < p1;) {
                    const long oh = p / g.OW, ow0 = p % g.OW;
                    const long ow1 = hmin(g.OW, ow0 + (p1 - p));
                    T* d = dst + (p - p0) - ow0;  // d[ow] is pixel (oh, ow)
                    const long ih = oh * g.sh - g.ph + i * g.dh;
                    if (ih < 0 || ih >= g.H) {
                        std::memset(d + ow0, 0, (ow1 - ow0) * sizeof(T));
                    } else {
                        const T* xr = xc + ih * s.h;
                        const long a = hmax(ow0, lo), b = hmin(ow1, hi);
                        if (a >= b) {
                            std::memset(d + ow0, 0, (ow1 - ow0) * sizeof(T));
                        } else {
                            if (a > ow0) std::memset(d + ow0, 0, (a - ow0) * sizeof(T));
                            if (g.sw == 1 && s.w == 1) {
                                std::memcpy(d + a, xr + a + woff, (b - a) * sizeof(T));
                            } else {
                                for (long ow = a; ow < b; ++ow) d[ow] = xr[(ow * g.sw + woff) * s.w];
                            }
                            if (b < ow1) std::memset(d + b, 0, (ow1 - b) * sizeof(T));
                        }
                    }
                    p += ow1 - ow0;
                }
            }
        }
    }
}

// dx (NCHW, image n, group gi) += col2im(col) for output pixels [0, P) (the whole image).
template <class T> void col2im_add(const ConvGeom& g, const T* col, long n, long gi, T* dx) {
    const long Cg = g.C / g.groups, P = g.OH * g.OW;
    for (long c = 0; c < Cg; ++c) {
        T* dc = dx + (n * g.C + gi * Cg + c) * g.H * g.W;
        for (long i = 0; i < g.kh; ++i) {
            for (long j = 0; j < g.kw; ++j) {
                const T* src = col + ((c * g.kh + i) * g.kw + j) * P;
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

// Pixels per im2col block: the block (K x PB) stays within ~1 MiB, whole multiples of the GEMM tile width.
template <class T> HK_ALWAYS_INLINE long pixel_block(long K, long P) {
    constexpr long NR = Cfg<T>::NR;
    long pb = (long(1) << 18) / hmax<long>(K, 1) / NR * NR;
    pb = hmax<long>(pb, 4 * NR);
    return hmin(pb, P);
}

HK_ALWAYS_INLINE bool conv_is_pointwise(const ConvGeom& g) {
    return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && !g.x_nhwc;
}

// Threads across tasks (each task serial) when there are enough tasks, else one
// task after the other with threaded GEMMs inside.
HK_ALWAYS_INLINE bool tasks_in_parallel(const Parallel& par, long tasks, double macs) {
    return par.threads > 1 && tasks >= 2L * par.threads && macs >= kSplitMacs;
}

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
    const long PB = pointwise ? P : pixel_block<T>(K, P);
    const long nblk = (P + PB - 1) / PB;
    const long tasks = g.N * g.groups * nblk;
    const bool across = tasks_in_parallel(par, tasks, macs);
    const Parallel inner = across ? Parallel{1, nullptr} : par;
    auto task = [&](long t) {
        const long blk = t % nblk, gi = (t / nblk) % g.groups, n = t / nblk / g.groups;
        const long p0 = blk * PB, p1 = hmin(P, p0 + PB);
        const T* B;
        long ldb;
        if (pointwise) {
            B = x + (n * g.C + gi * Cg) * P;
            ldb = P;
        } else {
            T* col = (T*)tl_col.get(K * (p1 - p0) * sizeof(T));
            im2col(g, x, n, gi, p0, p1, col);
            B = col;
            ldb = p1 - p0;
        }
        GemmProblem<T> q{w + gi * Og * K, B, y + (n * g.O + gi * Og) * P + p0, bias ? bias + gi * Og : nullptr,
                         Og, p1 - p0, K, K, ldb, P, false, false, ACT_NONE};
        q.bias_rows = true;
        k_gemm(q, inner);
    };
    if (across) par_for(par, tasks, task);
    else for (long t = 0; t < tasks; ++t) task(t);
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
    const long tasks = g.N * g.groups;  // col2im of one image overlaps between pixel blocks: whole images
    const bool across = tasks_in_parallel(par, tasks, macs);
    const Parallel inner = across ? Parallel{1, nullptr} : par;
    auto task = [&](long t) {
        const long gi = t % g.groups, n = t / g.groups;
        T* target = pointwise ? dx + (n * g.C + gi * Cg) * P : (T*)tl_col.get(K * P * sizeof(T));
        // dcol (K x P) = W_g^T (K x Og) . dY_g (Og x P)
        GemmProblem<T> q{w + gi * Og * K, dy + (n * g.O + gi * Og) * P, target, nullptr, K, P, Og, K, P, P,
                         true, false, ACT_NONE};
        k_gemm(q, inner);
        if (!pointwise) col2im_add(g, target, n, gi, dx);
    };
    if (across) par_for(par, tasks, task);
    else for (long t = 0; t < tasks; ++t) task(t);
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
    const long PB = pointwise ? P : pixel_block<T>(K, P);
    const long nblk = (P + PB - 1) / PB;
    // Images split over the threads, each summing into its own copy of dw; the
    // copies are added at the end.  With too few images the GEMMs run threaded.
    const long parts = par.threads > 1 && macs >= kSplitMacs ? hmin<long>(g.N, par.threads) : 1;
    const bool across = parts >= 2 && g.N >= 2L * par.threads;
    const long nparts = across ? parts : 1;
    const Parallel inner = across ? Parallel{1, nullptr} : par;
    T* partial = nullptr;
    if (nparts > 1) partial = (T*)tl_partial.get(sizeof(T) * wsize * (nparts - 1));
    auto part = [&](long t) {
        T* target = t == 0 ? dw : partial + (t - 1) * wsize;
        if (t > 0) std::memset(target, 0, sizeof(T) * wsize);
        long n0, n1;
        split_range(g.N, t, nparts, 1, n0, n1);
        for (long n = n0; n < n1; ++n) {
            for (long gi = 0; gi < g.groups; ++gi) {
                for (long blk = 0; blk < nblk; ++blk) {
                    const long p0 = blk * PB, p1 = hmin(P, p0 + PB);
                    const T* B;
                    long ldb;
                    if (pointwise) {
                        B = x + (n * g.C + gi * Cg) * P;
                        ldb = P;
                    } else {
                        T* col = (T*)tl_col.get(K * (p1 - p0) * sizeof(T));
                        im2col(g, x, n, gi, p0, p1, col);
                        B = col;
                        ldb = p1 - p0;
                    }
                    // dW_g (Og x K) += dY_g[:, p0:p1] (Og x pb) . col^T (pb x K)
                    GemmProblem<T> q{dy + (n * g.O + gi * Og) * P + p0, B, target + gi * Og * K, nullptr, Og, K,
                                     p1 - p0, P, ldb, K, false, true, ACT_NONE};
                    q.accumulate = true;
                    k_gemm(q, inner);
                }
            }
        }
    };
    if (nparts > 1) par_for(par, nparts, part);
    else part(0);
    for (long t = 1; t < nparts; ++t) k_binary<T>(BIN_ADD, dw, partial + (t - 1) * wsize, dw, wsize);
}
