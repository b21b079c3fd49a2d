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

// The larger of m and v, NaN when either is (torch's max pooling lets a NaN win). Bitwise `|`, not `||`:
// a select without a branch (a branch on random data mispredicts half the time: 15 ns per output), for
// scalars and GCC vectors alike.
template <class T> HK_ALWAYS_INLINE T max_nan(T m, T v) { return ((v > m) | (v != v)) ? v : m; }

static thread_local PackBuf tl_pool_row;  // one output row's column maxima, padded (max_pool2d)

// Windows across one padded row: y[ow] = max over j < kw of row[ow * stride + j * dw], each tap a
// contiguous run of `lanes` (the row itself at stride 1, its even or odd half at stride 2), so that the
// loop vectorises without strided loads.
template <class T>
HK_ALWAYS_INLINE void max_across(const T* const* lanes, long stride, T* __restrict y, long n, long kw, long dw) {
    for (long j = 0; j < kw; ++j) {
        const long at = j * dw;
        const T* __restrict tap = lanes[at % stride] + at / stride;
        if (j == 0) for (long ow = 0; ow < n; ++ow) y[ow] = tap[ow];
        else for (long ow = 0; ow < n; ++ow) y[ow] = max_nan(y[ow], tap[ow]);
    }
}

// max over each window; NaN anywhere in it gives NaN (torch); padding never wins. Separable: per output
// row, the maxima down each input column over the window's rows, into a row padded with -inf on both sides
// (-inf never beats a value; only a window in the padding only returns it), then across each window's columns of that row. 2k vectorised steps per output instead of k².
template <class T> void k_max_pool2d(const PoolGeom& g, const T* x, T* y, const Parallel& par) {
    // The padded row starts at input column -pw and reaches the last window's last column.
    const long width = (g.OW - 1) * g.sw + (g.kw - 1) * g.dw + 1;
    const long cols = hmin(g.W, width - g.pw);  // the input columns some window reads
    auto plane = [&](long pl) {
        const T* xp = x + pl * g.H * g.W;
        T* yp = y + pl * g.OH * g.OW;
        // the padded row and one more -inf (odd's last column when the width is odd), then its even and odd
        // columns (stride 2)
        const long half = (width + 1) / 2;
        T* padded = static_cast<T*>(tl_pool_row.get(size_t(width + 1 + 2 * half) * sizeof(T)));
        T* even = padded + width + 1;
        T* odd = even + half;
        T* colmax = padded + g.pw;
        for (long i = 0; i <= width; ++i) padded[i] = T(-INFINITY);
        for (long oh = 0; oh < g.OH; ++oh) {
            long h0, h1;
            window(oh, g.sh, g.ph, g.kh, g.dh, g.H, h0, h1);
            const T* first = xp + h0 * g.W;
            if (h0 < h1) for (long iw = 0; iw < cols; ++iw) colmax[iw] = first[iw];
            else for (long iw = 0; iw < cols; ++iw) colmax[iw] = T(-INFINITY);  // a window in the padding only
            for (long ih = h0 + g.dh; ih < h1; ih += g.dh) {
                const T* __restrict row = xp + ih * g.W;
                for (long iw = 0; iw < cols; ++iw) colmax[iw] = max_nan(colmax[iw], row[iw]);
            }
            T* yr = yp + oh * g.OW;
            if (g.sw == 1) {
                max_across(&padded, 1, yr, g.OW, g.kw, g.dw);
            } else if (g.sw == 2) {
                for (long i = 0; i < half; ++i) {
                    even[i] = padded[2 * i];
                    odd[i] = padded[2 * i + 1];
                }
                const T* lanes[2] = {even, odd};
                max_across(lanes, 2, yr, g.OW, g.kw, g.dw);
            } else {
                for (long ow = 0; ow < g.OW; ++ow) {  // rare strides: window by window
                    T m = padded[ow * g.sw];
                    for (long j = 1; j < g.kw; ++j) m = max_nan(m, padded[ow * g.sw + j * g.dw]);
                    yr[ow] = m;
                }
            }
        }
    };
    par_planes(par, g.N * g.C, double(g.N) * g.C * g.OH * g.OW * g.kh * g.kw, plane);
}

// Where the first maximum of each window across one padded row lies: a running maximum m[ow] and its
// position at[ow] (row_start + column in the padded row), updated tap after tap in row-major window order.
// lanes[r][i] = padded[r + stride * i], so that each tap is a contiguous run of vectors; the selects are
// written with vectors (GCC left this loop scalar, and a branch per tap on which one wins mispredicts on
// real data).  A NaN is the maximum (the first one: nothing compares greater than a NaN, m == m stops the
// updates); -inf padding never beats the running maximum, which starts at -inf.  VEC: positions as wide
// as T (Vec<T>::I lanes), else scalar.
template <class T, class Pos, bool VEC>
HK_ALWAYS_INLINE void argmax_across(const T* const* lanes, long stride, T* __restrict m, Pos* __restrict at,
                                    long n, long kw, long dw, long row_start) {
    using V = typename Vec<T>::V;
    using I = typename Vec<T>::I;
    constexpr int L = Vec<T>::L;
    I lane = {};
    for (int l = 0; l < L; ++l) lane[l] = l;
    for (long j = 0; j < kw; ++j) {
        const long off = j * dw;
        const T* __restrict tap = lanes[off % stride] + off / stride;
        const long base = row_start + off;
        long ow = 0;
        if constexpr (VEC) {
            for (; ow + L <= n; ow += L) {
                const V v = loadu(tap + ow);
                V mv = loadu(m + ow);
                I pos;
                std::memcpy(&pos, at + ow, sizeof pos);
                const auto take = (v > mv) | ((v != v) & (mv == mv));
                mv = take ? v : mv;
                pos = take ? Pos(base + ow * stride) + lane * Pos(stride) : pos;
                storeu(m + ow, mv);
                std::memcpy(at + ow, &pos, sizeof pos);
            }
        }
        for (; ow < n; ++ow) {
            const T v = tap[ow];
            const bool take = (v > m[ow]) | ((v != v) & (m[ow] == m[ow]));
            m[ow] = take ? v : m[ow];
            at[ow] = take ? Pos(base + ow * stride) : at[ow];
        }
    }
}

static thread_local PackBuf tl_pool_arg;  // max_pool2d_bw: a padded row, its lanes, one output row's maxima

// The gradient goes to the first maximum of each window in row-major window
// order, a NaN counting as the maximum (the first NaN); a window of -inf only
// sends it to its first position inside the input (torch's rule).  Per output
// row, window row after window row: argmax_across over the row padded with
// -inf (vectorised selects: a branch per tap on which one wins mispredicts
// on real data, and made this 4x slower than torch's backward from recorded
// positions), then the gradients added at the positions found.
template <class T, class Pos, bool VEC = sizeof(Pos) == sizeof(T)>
void max_pool2d_bw_planes(const PoolGeom& g, const T* gy, const T* x, T* dx, const Parallel& par) {
    const long width = (g.OW - 1) * g.sw + (g.kw - 1) * g.dw + 1;  // the padded row, from input column -pw
    const long cols = hmax<long>(0, hmin(g.W, width - g.pw));        // the input columns some window reads
    const long lane = (width + g.sw - 1) / g.sw;
    auto plane = [&](long pl) {
        const T* xp = x + pl * g.H * g.W;
        const T* gp = gy + pl * g.OH * g.OW;
        T* dp = dx + pl * g.H * g.W;
        // the lanes' addresses (stride 1: the padded row itself), the padded row (-inf past the input, up to
        // sw * lane columns), its lanes, m, at, and each window's first column inside the input (-1: none)
        const size_t bytes = size_t(g.sw) * sizeof(T*) + size_t(2 * g.sw * lane + g.OW) * sizeof(T) +
                             size_t(2 * g.OW) * sizeof(Pos);
        const T** lanes = static_cast<const T**>(tl_pool_arg.get(bytes));
        T* padded = reinterpret_cast<T*>(lanes + g.sw);
        T* lanes0 = padded + g.sw * lane;
        T* m = lanes0 + g.sw * lane;
        Pos* at = reinterpret_cast<Pos*>(m + g.OW);
        Pos* first = at + g.OW;
        for (long r = 0; r < g.sw; ++r) lanes[r] = g.sw == 1 ? padded : lanes0 + r * lane;
        for (long i = 0; i < g.sw * lane; ++i) padded[i] = T(-INFINITY);
        for (long ow = 0; ow < g.OW; ++ow) {
            long w0, w1;
            window(ow, g.sw, g.pw, g.kw, g.dw, g.W, w0, w1);
            first[ow] = Pos(w0 < w1 ? w0 : -1);
        }
        for (long i = 0; i < g.H * g.W; ++i) dp[i] = T(0);
        for (long oh = 0; oh < g.OH; ++oh) {
            long h0, h1;
            window(oh, g.sh, g.ph, g.kh, g.dh, g.H, h0, h1);
            if (h0 >= h1) continue;  // a window in the padding only: no gradient
            for (long ow = 0; ow < g.OW; ++ow) {
                m[ow] = T(-INFINITY);
                at[ow] = first[ow] < 0 ? Pos(-1) : Pos(h0 * g.W + first[ow]);
            }
            for (long ih = h0; ih < h1; ih += g.dh) {
                std::memcpy(padded + g.pw, xp + ih * g.W, size_t(cols) * sizeof(T));
                const long row_start = ih * g.W - g.pw;
                if (g.sw == 2) {
                    for (long i = 0; i < lane; ++i) {
                        lanes0[i] = padded[2 * i];
                        lanes0[lane + i] = padded[2 * i + 1];
                    }
                } else if (g.sw > 2) {
                    for (long i = 0; i < lane; ++i)
                        for (long r = 0; r < g.sw; ++r) lanes0[r * lane + i] = padded[r + g.sw * i];
                }
                argmax_across<T, Pos, VEC>(lanes, g.sw, m, at, g.OW, g.kw, g.dw, row_start);
            }
            for (long ow = 0; ow < g.OW; ++ow)
                if (at[ow] >= 0) dp[at[ow]] += gp[oh * g.OW + ow];
        }
    };
    par_planes(par, g.N * g.C, double(g.N) * g.C * g.OH * g.OW * g.kh * g.kw, plane);
}
template <class T> void k_max_pool2d_bw(const PoolGeom& g, const T* gy, const T* x, T* dx, const Parallel& par) {
    // positions as wide as the values vectorise with them; a float32 plane past 2^31 elements needs 64 bits
    using Pos = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
    if (g.H * g.W <= long(INT32_MAX)) max_pool2d_bw_planes<T, Pos>(g, gy, x, dx, par);
    else max_pool2d_bw_planes<T, int64_t>(g, gy, x, dx, par);
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
