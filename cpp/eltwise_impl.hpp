// Element-wise and row-wise kernels (relu, gelu, add, softmax, layer_norm, ...).
// Included by kernels_impl.hpp inside namespace halkit::HALKIT_ISA_NS.
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

// y = op(x), op one of UnaryOp (kernels.hpp); semantics of the numpy reference driver.
template <class T> void k_unary(int op, const T* x, T* y, long n) {
    using V = typename Vec<T>::V;
    switch (op) {
        case UN_RELU: return k_relu<T>(x, y, n);
        case UN_GELU: return k_gelu<T>(x, y, n);
        case UN_TANH: return map1(x, y, n, [](V v) { return v_tanh(v); });
        case UN_SIGMOID: return map1(x, y, n, [](V v) { return v_sigmoid(v); });
        case UN_SILU: return map1(x, y, n, [](V v) { return v * v_sigmoid(v); });
        case UN_HARDSWISH:
            return map1(x, y, n, [](V v) {
                V c = v + T(3);  // clip(x + 3, 0, 6), NaN kept
                c = c < T(0) ? V{} : c;
                c = c > T(6) ? splat<T>(6) : c;
                return v * c / T(6);
            });
        case UN_SQRT:  // a plain loop: GCC vectorises it to vsqrtp* (no errno: -fno-math-errno)
            for (long i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
            return;
        case UN_EXP: return map1(x, y, n, [](V v) { return v_exp(v); });
        default: return;
    }
}

// y = op(a, b): arithmetic and the activations' backward passes (a = grad).
template <class T> void k_binary(int op, const T* a, const T* b, T* y, long n) {
    using V = typename Vec<T>::V;
    switch (op) {
        case BIN_ADD: return map2(a, b, y, n, [](V u, V v) { return u + v; });
        case BIN_MUL: return map2(a, b, y, n, [](V u, V v) { return u * v; });
        case BIN_DIV: return map2(a, b, y, n, [](V u, V v) { return u / v; });
        case BIN_RELU_BW:
            // torch's threshold_backward: 0 where x <= 0 (even for a NaN/inf grad), grad elsewhere (NaN x keeps grad).
            return map2(a, b, y, n, [](V g, V x) { return x <= T(0) ? V{} : g; });
        case BIN_GELU_BW: return map2(a, b, y, n, [](V g, V x) { return v_gelu_bw<V, T>(g, x); });
        case BIN_TANH_BW: return map2(a, b, y, n, [](V g, V t) { return g * (T(1) - rounded(t * t)); });
        case BIN_SIGMOID_BW: return map2(a, b, y, n, [](V g, V s) { return g * s * (T(1) - s); });
        case BIN_SILU_BW:
            return map2(a, b, y, n, [](V g, V x) {
                const V s = v_sigmoid(x);
                return g * s * (T(1) + rounded(x * (T(1) - s)));
            });
        case BIN_HARDSWISH_BW:
            // torch 2.x: 0 for x <= -3, grad for x >= 3 and NaN x, grad (2x + 3) / 6 strictly in between.
            return map2(a, b, y, n, [](V g, V x) {
                const V mid = g * (T(2) * x + T(3)) / T(6);
                const V upper = x < T(3) ? mid : g;
                return x <= T(-3) ? V{} : upper;
            });
        default: return;
    }
}
// y = alpha x + beta
template <class T> void k_scale(const T* x, T alpha, T beta, T* y, long n) {
    using V = typename Vec<T>::V;
    map1(x, y, n, [alpha, beta](V v) { return rounded(v * alpha) + beta; });
}
// y = a + alpha b
template <class T> void k_axpy(const T* a, const T* b, T alpha, T* y, long n) {
    using V = typename Vec<T>::V;
    map2(a, b, y, n, [alpha](V u, V v) { return u + rounded(alpha * v); });
}
template <class T> void k_add_bias(const T* x, const T* b, T* y, long rows, long n) {
    for (long r = 0; r < rows; ++r) k_binary<T>(BIN_ADD, x + r * n, b, y + r * n, n);
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
        // One divide per row, a multiply per element: a vector divide costs ~16x a multiply's throughput and
        // made softmax 0.8x torch's; the product is within an ulp of the quotient (torch multiplies too).
        const V inv = splat<T>(T(1) / sum);
        map1(yr, yr, n, [inv](V v) { return v * inv; });
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
        if (w) k_binary<T>(BIN_MUL, yr, w, yr, n);
        if (b) k_binary<T>(BIN_ADD, yr, b, yr, n);
    }
}


// sum of a row (vector accumulators, then the lanes)
template <class T> HK_ALWAYS_INLINE T row_sum(const T* x, long n) {
    constexpr int L = Vec<T>::L;
    typename Vec<T>::V s0 = {}, s1 = {};
    long i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
        s0 += loadu(x + i);
        s1 += loadu(x + i + L);
    }
    for (; i + L <= n; i += L) s0 += loadu(x + i);
    s0 += s1;
    T s = 0;
    for (int l = 0; l < L; ++l) s += s0[l];
    for (; i < n; ++i) s += x[i];
    return s;
}
// sum of a[i] * b[i] over a row
template <class T> HK_ALWAYS_INLINE T row_dot(const T* a, const T* b, long n) {
    constexpr int L = Vec<T>::L;
    typename Vec<T>::V s0 = {}, s1 = {};
    long i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
        s0 += loadu(a + i) * loadu(b + i);
        s1 += loadu(a + i + L) * loadu(b + i + L);
    }
    for (; i + L <= n; i += L) s0 += loadu(a + i) * loadu(b + i);
    s0 += s1;
    T s = 0;
    for (int l = 0; l < L; ++l) s += s0[l];
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

// softmax backward per row: out = y (g - <g, y>)
template <class T> void k_softmax_bw(const T* g, const T* y, T* out, long rows, long n) {
    using V = typename Vec<T>::V;
    for (long r = 0; r < rows; ++r) {
        const T* gr = g + r * n;
        const T* yr = y + r * n;
        const T d = row_dot(gr, yr, n);
        map2(gr, yr, out + r * n, n, [d](V gv, V yv) { return yv * (gv - d); });
    }
}

// layer_norm backward over `rows` rows of n: gx per row; gw += sum_r g x_hat and
// gb += sum_r g, in double (the caller zeroes them and adds the chunks' partial
// sums: the column sums then do not depend on how the rows were split).
// Everything is computed in double: gx = rstd (g_hat - mean(g_hat) - x_hat
// mean(g_hat x_hat)) cancels almost completely when the row's variance is near
// eps (2 features: 1 - x_hat^2 ~ eps / var), and float32 left it 5e-5 off torch.
template <class T>
void k_layer_norm_bw(const T* g, const T* x, const T* w, double eps, T* gx, double* gw, double* gb, long rows,
                     long n) {
    for (long r = 0; r < rows; ++r) {
        const T* gr = g + r * n;
        const T* xr = x + r * n;
        T* out = gx + r * n;
        double mean = 0, var = 0;
        for (long i = 0; i < n; ++i) mean += double(xr[i]);
        mean /= double(n);
        for (long i = 0; i < n; ++i) var += (double(xr[i]) - mean) * (double(xr[i]) - mean);
        var /= double(n);
        const double rstd = 1.0 / std::sqrt(var + eps);
        double sg = 0, sgx = 0;  // sums of g_hat = g w and of g_hat x_hat
        for (long i = 0; i < n; ++i) {
            const double xh = (double(xr[i]) - mean) * rstd;
            const double gh = w ? double(gr[i]) * double(w[i]) : double(gr[i]);
            sg += gh;
            sgx += gh * xh;
            gw[i] += double(gr[i]) * xh;
            gb[i] += double(gr[i]);
        }
        const double mg = sg / double(n), mgx = sgx / double(n);
        for (long i = 0; i < n; ++i) {
            const double xh = (double(xr[i]) - mean) * rstd;
            const double gh = w ? double(gr[i]) * double(w[i]) : double(gr[i]);
            out[i] = T(rstd * (gh - mg - xh * mgx));
        }
    }
}
