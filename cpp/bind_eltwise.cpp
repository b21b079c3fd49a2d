// Bindings of the element-wise ops and the row-wise ops over the last axis
// (add_bias, sum_rows, softmax, layer_norm and their backward passes).
#include <algorithm>

#include "bind.hpp"

namespace halkit {
namespace bind {
namespace {

// name, op code, heavy (transcendental: splits from fewer elements)
struct UnaryDef {
    const char* name;
    int op;
    bool heavy;
};
constexpr UnaryDef kUnary[] = {
    {"relu", UN_RELU, false},      {"gelu", UN_GELU, true},          {"tanh", UN_TANH, true},
    {"sigmoid", UN_SIGMOID, true}, {"silu", UN_SILU, true},          {"hardswish", UN_HARDSWISH, false},
    {"sqrt", UN_SQRT, false},      {"exp", UN_EXP, true},
};
struct BinaryDef {
    const char* name;
    int op;
    bool heavy;
    const char* a;
    const char* b;
};
constexpr BinaryDef kBinary[] = {
    {"mul", BIN_MUL, false, "a", "b"},
    {"div", BIN_DIV, false, "a", "b"},
    {"relu_backward", BIN_RELU_BW, false, "grad", "x"},
    {"gelu_backward", BIN_GELU_BW, true, "grad", "x"},
    {"tanh_backward", BIN_TANH_BW, false, "grad", "y"},
    {"sigmoid_backward", BIN_SIGMOID_BW, false, "grad", "y"},
    {"silu_backward", BIN_SILU_BW, true, "grad", "x"},
    {"hardswish_backward", BIN_HARDSWISH_BW, false, "grad", "x"},
};

py::array unary(const UnaryDef& d, const py::handle& xo) {
    const Arr x = float_arg(xo, d.name, "x");
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_like<T>(x);
        const T* xp = x.ptr<T>();
        T* yp = y.mutable_data();
        auto f = ks<T>().unary;
        {
            py::gil_scoped_release nogil;
            ew_run(x.size(), [&](long o, long c) { f(d.op, xp + o, yp + o, c); },
                   d.heavy ? kEwHeavyThreshold : kEwThreshold);
        }
        return std::move(y);
    });
}

py::array binary(const BinaryDef& d, const py::handle& ao, const py::handle& bo) {
    const Arr a = float_arg(ao, d.name, d.a), b = float_arg(bo, d.name, d.b);
    same_dtype(a, b, d.name, d.a, d.b);
    same_shape(a, b, d.name, d.a, d.b);
    return by_dtype(a.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_like<T>(a);
        const T* ap = a.ptr<T>();
        const T* bp = b.ptr<T>();
        T* yp = y.mutable_data();
        auto f = ks<T>().binary;
        {
            py::gil_scoped_release nogil;
            ew_run(a.size(), [&](long o, long c) { f(d.op, ap + o, bp + o, yp + o, c); },
                   d.heavy ? kEwHeavyThreshold : kEwThreshold);
        }
        return std::move(y);
    });
}

// a + alpha b
py::array add(const py::handle& ao, const py::handle& bo, double alpha) {
    const char* fn = "add";
    const Arr a = float_arg(ao, fn, "a"), b = float_arg(bo, fn, "b");
    same_dtype(a, b, fn, "a", "b");
    same_shape(a, b, fn, "a", "b");
    return by_dtype(a.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_like<T>(a);
        const T* ap = a.ptr<T>();
        const T* bp = b.ptr<T>();
        T* yp = y.mutable_data();
        const KernelSet<T>& k = ks<T>();
        {
            py::gil_scoped_release nogil;
            if (alpha == 1.0) ew_run(a.size(), [&](long o, long c) { k.binary(BIN_ADD, ap + o, bp + o, yp + o, c); });
            else ew_run(a.size(), [&](long o, long c) { k.axpy(ap + o, bp + o, T(alpha), yp + o, c); });
        }
        return std::move(y);
    });
}

// alpha x + beta
py::array scale(const py::handle& xo, double alpha, double beta) {
    const Arr x = float_arg(xo, "scale", "x");
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_like<T>(x);
        const T* xp = x.ptr<T>();
        T* yp = y.mutable_data();
        auto f = ks<T>().scale;
        {
            py::gil_scoped_release nogil;
            ew_run(x.size(), [&](long o, long c) { f(xp + o, T(alpha), T(beta), yp + o, c); });
        }
        return std::move(y);
    });
}

long last_dim(const Arr& x, const char* fn) {
    if (x.ndim() < 1) value_err(std::string(fn) + ": x must have at least 1 dimension, got a 0-D array");
    return x.dim(x.ndim() - 1);
}

// A row-wise op over the last axis: a new array like `like`, rows split over the pool.
// op(row0, nrows, out) processes nrows consecutive rows of n elements.
template <class T, class RowOp> py::array map_rows(const Arr& like, long n, long threshold, RowOp op) {
    auto y = new_like<T>(like);
    T* yp = y.mutable_data();
    const long rows = n ? like.size() / n : 0;
    {
        py::gil_scoped_release nogil;
        rows_run(rows, n, [&](long r0, long nr) { op(r0, nr, yp + r0 * n); }, threshold);
    }
    return std::move(y);
}

py::array add_bias(const py::handle& xo, const py::handle& bo) {
    const char* fn = "add_bias";
    const Arr x = float_arg(xo, fn, "x");
    const long n = last_dim(x, fn);
    const Arr b = float_arg(bo, fn, "b");
    check_vector(b, n, x, fn, "b", "x's last dimension");
    return by_dtype(x.dt, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.ptr<T>();
        const T* bp = b.ptr<T>();
        auto f = ks<T>().add_bias;
        return map_rows<T>(x, n, kEwThreshold, [&](long r0, long nr, T* out) { f(xp + r0 * n, bp, out, nr, n); });
    });
}

py::array softmax(const py::handle& xo) {
    const Arr x = float_arg(xo, "softmax", "x");
    const long n = last_dim(x, "softmax");
    return by_dtype(x.dt, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.ptr<T>();
        auto f = ks<T>().softmax;
        return map_rows<T>(x, n, kEwHeavyThreshold, [&](long r0, long nr, T* out) { f(xp + r0 * n, out, nr, n); });
    });
}

py::array softmax_backward(const py::handle& go, const py::handle& yo) {
    const char* fn = "softmax_backward";
    const Arr g = float_arg(go, fn, "grad"), y = float_arg(yo, fn, "y");
    same_dtype(g, y, fn, "grad", "y");
    same_shape(g, y, fn, "grad", "y");
    const long n = last_dim(y, fn);
    return by_dtype(y.dt, [&](auto t) {
        using T = decltype(t);
        const T* gp = g.ptr<T>();
        const T* yp = y.ptr<T>();
        auto f = ks<T>().softmax_bw;
        return map_rows<T>(y, n, kEwThreshold,
                           [&](long r0, long nr, T* out) { f(gp + r0 * n, yp + r0 * n, out, nr, n); });
    });
}

void check_eps(double eps, const char* fn) {
    if (!(eps >= 0.0)) value_err(std::string(fn) + ": eps must be >= 0, got " + std::to_string(eps));
}

py::array layer_norm(const py::handle& xo, const py::handle& wo, const py::handle& bo, double eps) {
    const char* fn = "layer_norm";
    const Arr x = float_arg(xo, fn, "x");
    const long n = last_dim(x, fn);
    check_eps(eps, fn);
    const Arr w = optional_arg(wo, fn, "weight"), b = optional_arg(bo, fn, "bias");
    check_vector(w, n, x, fn, "weight", "x's last dimension");
    check_vector(b, n, x, fn, "bias", "x's last dimension");
    return by_dtype(x.dt, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.ptr<T>();
        const T* wp = present(w) ? w.ptr<T>() : nullptr;
        const T* bp = present(b) ? b.ptr<T>() : nullptr;
        auto f = ks<T>().layer_norm;
        return map_rows<T>(x, n, kEwHeavyThreshold,
                           [&](long r0, long nr, T* out) { f(xp + r0 * n, wp, bp, eps, out, nr, n); });
    });
}

// (grad_x, grad_weight, grad_bias): rows split over the pool; each chunk sums its
// rows' weight/bias gradients into its own slot, the slots are added at the end.
py::tuple layer_norm_backward(const py::handle& go, const py::handle& xo, const py::handle& wo, double eps) {
    const char* fn = "layer_norm_backward";
    const Arr g = float_arg(go, fn, "grad"), x = float_arg(xo, fn, "x");
    same_dtype(g, x, fn, "grad", "x");
    same_shape(g, x, fn, "grad", "x");
    const long n = last_dim(x, fn);
    check_eps(eps, fn);
    const Arr w = optional_arg(wo, fn, "weight");
    check_vector(w, n, x, fn, "weight", "x's last dimension");
    return by_dtype(x.dt, [&](auto t) -> py::tuple {
        using T = decltype(t);
        auto gx = new_like<T>(x);
        auto gw = new_array<T>({n}), gb = new_array<T>({n});
        const T* gp = g.ptr<T>();
        const T* xp = x.ptr<T>();
        const T* wp = present(w) ? w.ptr<T>() : nullptr;
        T* gxp = gx.mutable_data();
        const long rows = n ? x.size() / n : 0;
        {
            py::gil_scoped_release nogil;
            const long nchunks = std::max<long>(1, chunks_for(double(rows) * n, double(kEwHeavyThreshold), rows,
                                                              std::max<long>(1, 8192 / std::max<long>(n, 1))));
            std::vector<double> part(size_t(nchunks) * 2 * n, 0.0);
            auto f = ks<T>().layer_norm_bw;
            auto task = [&](long ch) {
                long lo, hi;
                split(rows, ch, nchunks, 1, lo, hi);
                double* pw = part.data() + size_t(ch) * 2 * n;
                if (hi > lo) f(gp + lo * n, xp + lo * n, wp, eps, gxp + lo * n, pw, pw + n, hi - lo, n);
            };
            run_chunks(nchunks, task);
            T* gwp = gw.mutable_data();
            T* gbp = gb.mutable_data();
            for (long j = 0; j < n; ++j) {
                double sw = 0, sb = 0;
                for (long c = 0; c < nchunks; ++c) {
                    sw += part[size_t(c) * 2 * n + j];
                    sb += part[size_t(c) * 2 * n + n + j];
                }
                gwp[j] = T(sw);
                gbp[j] = T(sb);
            }
        }
        return py::make_tuple(gx, gw, gb);
    });
}

py::array sum_rows(const py::handle& xo) {
    const char* fn = "sum_rows";
    const Arr x = float_arg(xo, fn, "x");
    const long n = last_dim(x, fn);
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>({n});
        const T* xp = x.ptr<T>();
        T* yp = y.mutable_data();
        const long rows = n ? x.size() / n : 0;
        {
            py::gil_scoped_release nogil;
            sum_rows_run(xp, rows, n, yp);
        }
        return std::move(y);
    });
}

}  // namespace

void register_eltwise(py::module_& m) {
    for (const UnaryDef& d : kUnary)
        m.def(d.name, [&d](const py::handle& x) { return unary(d, x); }, py::arg("x"));
    for (const BinaryDef& d : kBinary)
        m.def(d.name, [&d](const py::handle& a, const py::handle& b) { return binary(d, a, b); }, py::arg(d.a),
              py::arg(d.b));
    m.def("add", &add, py::arg("a"), py::arg("b"), py::arg("alpha") = 1.0, "a + alpha b");
    m.def("scale", &scale, py::arg("x"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0, "alpha x + beta");
    m.def("add_bias", &add_bias, py::arg("x"), py::arg("b"), "x + b over the last axis");
    m.def("sum_rows", &sum_rows, py::arg("x"), "sum over all leading axes -> 1-D of len x.shape[-1]");
    m.def("softmax", &softmax, py::arg("x"), "numerically stable softmax over the last axis");
    m.def("softmax_backward", &softmax_backward, py::arg("grad"), py::arg("y"), "y (grad - sum(grad y)) per row");
    m.def("layer_norm", &layer_norm, py::arg("x"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
          py::arg("eps") = 1e-5, "layer norm over the last axis (biased variance)");
    m.def("layer_norm_backward", &layer_norm_backward, py::arg("grad"), py::arg("x"), py::arg("weight") = py::none(),
          py::arg("eps") = 1e-5, "(grad_x, grad_weight, grad_bias) of layer_norm");
}

}  // namespace bind
}  // namespace halkit
