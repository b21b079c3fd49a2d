// Batch normalisation over the channel axis of x (N, C, S) -- S the product of
// the spatial dims -- and reductions over a middle axis.  Included by
// kernels_impl.hpp inside namespace halkit::HALKIT_ISA_NS.
//
// Per-channel statistics and the backward pass's per-channel sums are taken in
// double (a channel of a big batch adds up millions of terms); the element-wise
// parts run in T.  Work is split over channels.

template <class F> void par_channels(const Parallel& par, long C, double elems, F& f) {
    if (par.threads > 1 && elems >= double(1L << 17) && C > 1) par_for(par, C, f);
    else for (long c = 0; c < C; ++c) f(c);
}

// sum over a plane of n elements, in double
template <class T> HK_ALWAYS_INLINE double plane_sum(const T* x, long n) {
    double s = 0;
    long i = 0;
    constexpr int L = Vec<T>::L;
    typename Vec<T>::V acc = {};
    for (long blk = 0; i + L <= n; i += L) {
        acc += loadu(x + i);
        if (++blk == 64) {  // flush to double every 64 vectors: each float lane sums at most 64 terms
            for (int l = 0; l < L; ++l) s += double(acc[l]);
            acc = typename Vec<T>::V{};
            blk = 0;
        }
    }
    for (int l = 0; l < L; ++l) s += double(acc[l]);
    for (; i < n; ++i) s += double(x[i]);
    return s;
}

// y = (x - mean) / sqrt(var + eps) * w + b per channel (w, b optional)
template <class T>
void k_batch_norm(const T* x, long N, long C, long S, const T* mean, const T* var, const T* w, const T* b, double eps,
                  T* y, const Parallel& par) {
    using V = typename Vec<T>::V;
    auto chan = [&](long c) {
        const T inv = T(1.0 / std::sqrt(double(var[c]) + eps));
        const T m = mean[c];
        const T wc = w ? w[c] : T(1), bc = b ? b[c] : T(0);
        for (long n = 0; n < N; ++n) {
            const long o = (n * C + c) * S;
            if (w || b) map1(x + o, y + o, S, [=](V v) { return (v - m) * inv * wc + bc; });
            else map1(x + o, y + o, S, [=](V v) { return (v - m) * inv; });
        }
    };
    par_channels(par, C, double(N) * C * S, chan);
}

// (mean, biased variance) per channel; two passes in double
template <class T> void k_batch_norm_stats(const T* x, long N, long C, long S, T* mean, T* var, const Parallel& par) {
    auto chan = [&](long c) {
        const double count = double(N) * double(S);
        double s = 0;
        for (long n = 0; n < N; ++n) s += plane_sum(x + (n * C + c) * S, S);
        const double m = s / count;
        double q = 0;
        for (long n = 0; n < N; ++n) {
            const T* p = x + (n * C + c) * S;
            for (long i = 0; i < S; ++i) q += (double(p[i]) - m) * (double(p[i]) - m);
        }
        mean[c] = T(m);  // 0 / 0 = NaN for an empty channel, as NumPy's mean
        var[c] = T(q / count);
    };
    par_channels(par, C, double(N) * C * S, chan);
}

// (grad_x, grad_weight, grad_bias) of training-mode batch_norm, as the reference:
// x_hat = (x - mean) invstd; gb = sum g; gw = sum g x_hat; g' = g w;
// gx = invstd (g' - sum(g') / count - x_hat sum(g' x_hat) / count)
template <class T>
void k_batch_norm_bw(const T* g, const T* x, long N, long C, long S, const T* mean, const T* var, const T* w,
                     double eps, T* gx, T* gw, T* gb, const Parallel& par) {
    auto chan = [&](long c) {
        const double invstd = 1.0 / std::sqrt(double(var[c]) + eps);
        const double m = double(mean[c]), wc = w ? double(w[c]) : 1.0;
        const double count = double(N) * double(S);
        double sg = 0, sgx = 0;
        for (long n = 0; n < N; ++n) {
            const long o = (n * C + c) * S;
            for (long i = 0; i < S; ++i) {
                const double gv = double(g[o + i]);
                sg += gv;
                sgx += gv * (double(x[o + i]) - m) * invstd;
            }
        }
        gb[c] = T(sg);
        gw[c] = T(sgx);
        const double a = wc * sg / count, bq = wc * sgx / count;
        for (long n = 0; n < N; ++n) {
            const long o = (n * C + c) * S;
            for (long i = 0; i < S; ++i) {
                const double xh = (double(x[o + i]) - m) * invstd;
                gx[o + i] = T(invstd * (wc * double(g[o + i]) - a - xh * bq));
            }
        }
    };
    par_channels(par, C, double(N) * C * S, chan);
}

// out[o * inner + j] = sum over m of x[(o * mid + m) * inner + j] for j in [j0, j1),
// in double.  S is T (the input) or double (an earlier pass's partial sums).
template <class T, class S>
void k_reduce_mid(const S* x, long outer, long mid, long inner, long j0, long j1, double* out) {
    for (long o = 0; o < outer; ++o) {
        double* dst = out + o * inner;
        const S* src = x + o * mid * inner;
        if (inner == 1) {  // a contiguous run: vector partial sums
            if constexpr (std::is_same<S, T>::value) {
                dst[0] = plane_sum(src, mid);
            } else {
                double s = 0;
                for (long m = 0; m < mid; ++m) s += src[m];
                dst[0] = s;
            }
            continue;
        }
        for (long j = j0; j < j1; ++j) dst[j] = 0;
        for (long m = 0; m < mid; ++m) {
            const S* row = src + m * inner;
            for (long j = j0; j < j1; ++j) dst[j] += double(row[j]);
        }
    }
}
