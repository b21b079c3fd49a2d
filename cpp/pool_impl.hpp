// 2-D pooling over NCHW planes (max, average, adaptive average) and the
// backward passes, with torch's geometry (ceil_mode, count_include_pad,
// dilation for max).  Included by kernels_impl.hpp inside namespace
// halkit::HALKIT_ISA_NS.  Planes (n, c) are independent: work is split over them.

template <class F> void par_planes(const Parallel& par, long planes, double elems, F& f) {
    if (par.threads > 1 && elems >= double(1L << 16) && planes > 1) par_for(par, planes, f);
    else for (long p = 0; p < planes; ++p) f(p);
}

// Input rows (or columns) [lo, hi) stepping by d of the window at output index o.
HK_ALWAYS_INLINE void window(long o, long s, long p, long k, long d, long size, long& lo, long& hi) {
    lo = o * s - p;
    hi = hmin(lo + (k - 1) * d + 1, size);
    while (lo < 0) lo += d;
}

// max over each window; NaN anywhere in it gives NaN (torch); padding never wins.
template <class T> void k_max_pool2d(const PoolGeom& g, const T* x, T* y, const Parallel& par) {
    auto plane = [&](long pl) {
        const T* xp = x + pl * g.H * g.W;
        T* yp = y + pl * g.OH * g.OW;
        for (long oh = 0; oh < g.OH; ++oh) {
            long h0, h1;
            window(oh, g.sh, g.ph, g.kh, g.dh, g.H, h0, h1);
            for (long ow = 0; ow < g.OW; ++ow) {
                long w0, w1;
                window(ow, g.sw, g.pw, g.kw, g.dw, g.W, w0, w1);
                T m = -INFINITY;
                bool nan = false;
                for (long ih = h0; ih < h1; ih += g.dh)
                    for (long iw = w0; iw < w1; iw += g.dw) {
                        const T v = xp[ih * g.W + iw];
                        nan |= v != v;
                        m = v > m ? v : m;
                    }
                yp[oh * g.OW + ow] = nan ? T(NAN) : m;
            }
        }
    };
    par_planes(par, g.N * g.C, double(g.N) * g.C * g.OH * g.OW * g.kh * g.kw, plane);
}

// The gradient goes to the first maximum of each window in row-major window
// order, a NaN counting as the maximum (the first NaN); a window of -inf only
// sends it to its first position inside the input (torch's rule).
template <class T> void k_max_pool2d_bw(const PoolGeom& g, const T* gy, const T* x, T* dx, const Parallel& par) {
    auto plane = [&](long pl) {
        const T* xp = x + pl * g.H * g.W;
        const T* gp = gy + pl * g.OH * g.OW;
        T* dp = dx + pl * g.H * g.W;
        for (long i = 0; i < g.H * g.W; ++i) dp[i] = T(0);
        for (long oh = 0; oh < g.OH; ++oh) {
            long h0, h1;
            window(oh, g.sh, g.ph, g.kh, g.dh, g.H, h0, h1);
            for (long ow = 0; ow < g.OW; ++ow) {
                long w0, w1;
                window(ow, g.sw, g.pw, g.kw, g.dw, g.W, w0, w1);
                long best = h0 * g.W + w0;
                T m = -INFINITY;
                bool found_nan = false;
                for (long ih = h0; ih < h1 && !found_nan; ih += g.dh)
                    for (long iw = w0; iw < w1; iw += g.dw) {
                        const T v = xp[ih * g.W + iw];
                        if (v != v) {
                            best = ih * g.W + iw;
                            found_nan = true;
                            break;
                        }
                        if (v > m) {
                            m = v;
                            best = ih * g.W + iw;
                        }
                    }
                if (h0 < h1 && w0 < w1) dp[best] += gp[oh * g.OW + ow];
            }
        }
    };
    par_planes(par, g.N * g.C, double(g.N) * g.C * g.OH * g.OW * g.kh * g.kw, plane);
}

// torch's average divisor: the window clipped to the padded input (padding
// counts when count_include_pad), or to the input itself.
HK_ALWAYS_INLINE long avg_extent(long o, long s, long p, long k, long size, bool include_pad) {
    const long start = o * s - p;
    const long end = hmin(start + k, size + p);
    if (include_pad) return end - start;
    return hmin(end, size) - hmax<long>(start, 0);
}

template <class T> void k_avg_pool2d(const PoolGeom& g, const T* x, T* y, const Parallel& par) {
    auto plane = [&](long pl) {
        const T* xp = x + pl * g.H * g.W;
        T* yp = y + pl * g.OH * g.OW;
        for (long oh = 0; oh < g.OH; ++oh) {
            const long h0 = hmax<long>(oh * g.sh - g.ph, 0), h1 = hmin(oh * g.sh - g.ph + g.kh, g.H);
            const long eh = avg_extent(oh, g.sh, g.ph, g.kh, g.H, g.count_include_pad);
            for (long ow = 0; ow < g.OW; ++ow) {
                const long w0 = hmax<long>(ow * g.sw - g.pw, 0), w1 = hmin(ow * g.sw - g.pw + g.kw, g.W);
                const long ew = avg_extent(ow, g.sw, g.pw, g.kw, g.W, g.count_include_pad);
                T s = 0;
                for (long ih = h0; ih < h1; ++ih)
                    for (long iw = w0; iw < w1; ++iw) s += xp[ih * g.W + iw];
                yp[oh * g.OW + ow] = s / T(eh * ew);
            }
        }
    };
    par_planes(par, g.N * g.C, double(g.N) * g.C * g.OH * g.OW * g.kh * g.kw, plane);
}

template <class T> void k_avg_pool2d_bw(const PoolGeom& g, const T* gy, T* dx, const Parallel& par) {
    auto plane = [&](long pl) {
        const T* gp = gy + pl * g.OH * g.OW;
        T* dp = dx + pl * g.H * g.W;
        for (long i = 0; i < g.H * g.W; ++i) dp[i] = T(0);
        for (long oh = 0; oh < g.OH; ++oh) {
            const long h0 = hmax<long>(oh * g.sh - g.ph, 0), h1 = hmin(oh * g.sh - g.ph + g.kh, g.H);
            const long eh = avg_extent(oh, g.sh, g.ph, g.kh, g.H, g.count_include_pad);
            for (long ow = 0; ow < g.OW; ++ow) {
                const long w0 = hmax<long>(ow * g.sw - g.pw, 0), w1 = hmin(ow * g.sw - g.pw + g.kw, g.W);
                const long ew = avg_extent(ow, g.sw, g.pw, g.kw, g.W, g.count_include_pad);
                const T share = gp[oh * g.OW + ow] / T(eh * ew);
                for (long ih = h0; ih < h1; ++ih)
                    for (long iw = w0; iw < w1; ++iw) dp[ih * g.W + iw] += share;
            }
        }
    };
    par_planes(par, g.N * g.C, double(g.N) * g.C * g.OH * g.OW * g.kh * g.kw, plane);
}

// adaptive bins: [floor(i size / out), ceil((i + 1) size / out))
HK_ALWAYS_INLINE void bin(long i, long size, long out, long& lo, long& hi) {
    lo = i * size / out;
    hi = ((i + 1) * size + out - 1) / out;
}

template <class T>
void k_adaptive_avg_pool2d(long planes, long H, long W, long OH, long OW, const T* x, T* y, const Parallel& par) {
    auto plane = [&](long pl) {
        const T* xp = x + pl * H * W;
        T* yp = y + pl * OH * OW;
        for (long i = 0; i < OH; ++i) {
            long h0, h1;
            bin(i, H, OH, h0, h1);
            for (long j = 0; j < OW; ++j) {
                long w0, w1;
                bin(j, W, OW, w0, w1);
                T s = 0;
                for (long ih = h0; ih < h1; ++ih)
                    for (long iw = w0; iw < w1; ++iw) s += xp[ih * W + iw];
                yp[i * OW + j] = s / T((h1 - h0) * (w1 - w0));
            }
        }
    };
    par_planes(par, planes, double(planes) * H * W, plane);
}

template <class T>
void k_adaptive_avg_pool2d_bw(long planes, long H, long W, long OH, long OW, const T* gy, T* dx, const Parallel& par) {
    auto plane = [&](long pl) {
        const T* gp = gy + pl * OH * OW;
        T* dp = dx + pl * H * W;
        for (long i = 0; i < H * W; ++i) dp[i] = T(0);
        for (long i = 0; i < OH; ++i) {
            long h0, h1;
            bin(i, H, OH, h0, h1);
            for (long j = 0; j < OW; ++j) {
                long w0, w1;
                bin(j, W, OW, w0, w1);
                const T share = gp[i * OW + j] / T((h1 - h0) * (w1 - w0));
                for (long ih = h0; ih < h1; ++ih)
                    for (long iw = w0; iw < w1; ++iw) dp[ih * W + iw] += share;
            }
        }
    };
    par_planes(par, planes, double(planes) * H * W, plane);
}
