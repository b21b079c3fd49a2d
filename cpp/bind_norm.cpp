// Bindings of batch norm (with given stats, the stats, the backward pass) and
// of sum / mean over any set of axes.
#include <algorithm>
#include <numeric>

#include "bind.hpp"

namespace halkit {
namespace bind {
namespace {

void check_eps(double eps, const char* fn) {
    if (!(eps >= 0.0)) value_err(std::string(fn) + ": eps must be >= 0, got " + std::to_string(eps));
}

// x as (N, C, S): S the product of the dims after the channels
void ncs(const Arr& x, const char* fn, long& N, long& C, long& S) {
    if (x.ndim() < 2) value_err(std::string(fn) + ": x must be (N, C, ...), got shape " + shape_str(x.a));
    N = x.dim(0), C = x.dim(1), S = 1;
    for (int i = 2; i < x.ndim(); ++i) S *= x.dim(i);
}

py::array batch_norm(const py::handle& xo, const py::handle& mo, const py::handle& vo, const py::handle& wo,
                     const py::handle& bo, double eps) {
    const char* fn = "batch_norm";
    const Arr x = float_arg(xo, fn, "x");
    long N, C, S;
    ncs(x, fn, N, C, S);
    check_eps(eps, fn);
    const Arr m = float_arg(mo, fn, "mean"), v = float_arg(vo, fn, "var");
    const Arr w = optional_arg(wo, fn, "weight"), b = optional_arg(bo, fn, "bias");
    for (auto [arr, name] : {std::pair<const Arr*, const char*>{&m, "mean"}, {&v, "var"}, {&w, "weight"}, {&b, "bias"}})
        check_vector(*arr, C, x, fn, name, "x's channels");
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_like<T>(x);
        const T* wp = present(w) ? w.ptr<T>() : nullptr;
        const T* bp = present(b) ? b.ptr<T>() : nullptr;
        T* yp = y.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().batch_norm(x.ptr<T>(), N, C, S, m.ptr<T>(), v.ptr<T>(), wp, bp, eps, yp, parallel());
        }
        return std::move(y);
    });
}

py::tuple batch_norm_stats(const py::handle& xo) {
    const char* fn = "batch_norm_stats";
    const Arr x = float_arg(xo, fn, "x");
    long N, C, S;
    ncs(x, fn, N, C, S);
    return by_dtype(x.dt, [&](auto t) -> py::tuple {
        using T = decltype(t);
        auto mean = new_array<T>({C}), var = new_array<T>({C});
        T* mp = mean.mutable_data();
        T* vp = var.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().batch_norm_stats(x.ptr<T>(), N, C, S, mp, vp, parallel());
        }
        return py::make_tuple(mean, var);
    });
}

py::tuple batch_norm_backward(const py::handle& go, const py::handle& xo, const py::handle& mo, const py::handle& vo,
                              const py::handle& wo, double eps) {
    const char* fn = "batch_norm_backward";
    const Arr g = float_arg(go, fn, "grad"), x = float_arg(xo, fn, "x");
    same_dtype(g, x, fn, "grad", "x");
    same_shape(g, x, fn, "grad", "x");
    long N, C, S;
    ncs(x, fn, N, C, S);
    check_eps(eps, fn);
    const Arr m = float_arg(mo, fn, "mean"), v = float_arg(vo, fn, "var"), w = optional_arg(wo, fn, "weight");
    for (auto [arr, name] : {std::pair<const Arr*, const char*>{&m, "mean"}, {&v, "var"}, {&w, "weight"}})
        check_vector(*arr, C, x, fn, name, "x's channels");
    return by_dtype(x.dt, [&](auto t) -> py::tuple {
        using T = decltype(t);
        auto gx = new_like<T>(x);
        auto gw = new_array<T>({C}), gb = new_array<T>({C});
        const T* wp = present(w) ? w.ptr<T>() : nullptr;
        T* gxp = gx.mutable_data();
        T* gwp = gw.mutable_data();
        T* gbp = gb.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().batch_norm_bw(g.ptr<T>(), x.ptr<T>(), N, C, S, m.ptr<T>(), v.ptr<T>(), wp, eps, gxp, gwp, gbp,
                                  parallel());
        }
        return py::make_tuple(gx, gw, gb);
    });
}

// The reduced axes as flags per dim; None = every axis; ValueError naming the op otherwise.
std::vector<bool> reduced_axes(const py::handle& axes, int ndim, const char* fn) {
    const int n = std::max(ndim, 1);  // a 0-D array accepts axis 0 / -1, like torch
    std::vector<bool> red(n, axes.is_none());
    if (axes.is_none()) return red;
    std::vector<py::handle> items;
    py::sequence seq;
    if (py::isinstance<py::sequence>(axes) && !py::isinstance<py::str>(axes)) {
        seq = py::reinterpret_borrow<py::sequence>(axes);
        for (auto h : seq) items.push_back(h);
    } else {
        items.push_back(axes);
    }
    for (auto h : items) {
        long a;
        try {
            a = int_arg(h, fn, "axes", -n);
        } catch (const py::value_error&) {
            a = n;  // reported below with the whole argument
        }
        if (a >= n || a < -n || red[(a + n) % n])
            value_err(std::string(fn) + ": axes must be distinct ints in [" + std::to_string(-ndim) + ", " +
                      std::to_string(ndim) + "), got " + std::string(py::repr(axes)));
        red[(a + n) % n] = true;
    }
    return red;
}

// sum (mean = false) or mean over the reduced axes: one pass per run of
// consecutive reduced dims, partial sums in double, split over the pool.
template <class T> py::array reduce_t(const Arr& x, const std::vector<bool>& red, bool keepdims, bool mean) {
    const int nd = x.ndim();
    std::vector<long> out_shape;
    double count = 1;
    for (int i = 0; i < nd; ++i) {
        if (red[i]) count *= double(x.dim(i));
        if (!red[i]) out_shape.push_back(x.dim(i));
        else if (keepdims) out_shape.push_back(1);
    }
    auto y = new_array<T>(out_shape);
    // groups of consecutive dims with the same status
    std::vector<long> size;
    std::vector<bool> gred;
    for (int i = 0; i < nd; ++i) {
        if (!size.empty() && gred.back() == red[i]) size.back() *= x.dim(i);
        else size.push_back(x.dim(i)), gred.push_back(red[i]);
    }
    const T* xp = x.ptr<T>();
    T* yp = y.mutable_data();
    const long nout = std::accumulate(out_shape.begin(), out_shape.end(), 1L, std::multiplies<long>());
    {
        py::gil_scoped_release nogil;
        const KernelSet<T>& k = ks<T>();
        std::vector<double> cur, next;
        bool from_input = true;
        // innermost reduced group first: each pass removes one group
        for (int gidx = int(size.size()) - 1; gidx >= 0; --gidx) {
            if (!gred[gidx]) continue;
            long outer = 1, inner = 1;
            for (int i = 0; i < gidx; ++i) outer *= size[i];
            for (size_t i = gidx + 1; i < size.size(); ++i) inner *= size[i];
            const long mid = size[gidx];
            next.assign(size_t(outer * inner), 0.0);
            const double work = double(outer) * mid * inner;
            const bool by_outer = outer >= inner;
            const long items = by_outer ? outer : inner;
            const long nchunks = chunks_for(work, double(kEwThreshold), items, by_outer ? 1 : 64);
            auto task = [&](long ch) {
                long lo, hi;
                split(items, ch, nchunks, 1, lo, hi);
                if (hi <= lo) return;
                const long o0 = by_outer ? lo : 0, no = by_outer ? hi - lo : outer;
                const long j0 = by_outer ? 0 : lo, j1 = by_outer ? inner : hi;
                double* dst = next.data() + o0 * inner;
                if (from_input) k.reduce_mid(xp + o0 * mid * inner, no, mid, inner, j0, j1, dst);
                else k.reduce_mid_d(cur.data() + o0 * mid * inner, no, mid, inner, j0, j1, dst);
            };
            run_chunks(nchunks, task);
            cur.swap(next);
            from_input = false;
            size.erase(size.begin() + gidx);
            gred.erase(gred.begin() + gidx);
        }
        if (from_input) {  // nothing reduced (a 0-D array, or no axes): a copy
            std::copy(xp, xp + nout, yp);
        } else {
            for (long i = 0; i < nout; ++i) yp[i] = T(mean ? cur[i] / count : cur[i]);  // 0 / 0: NaN, like torch
        }
    }
    return std::move(y);
}

py::array reduce(const py::handle& xo, const py::handle& axes, bool keepdims, bool mean) {
    const char* fn = mean ? "mean" : "sum";
    const Arr x = float_arg(xo, fn, "x");
    std::vector<bool> red = reduced_axes(axes, x.ndim(), fn);
    if (x.ndim() == 0) red.assign(0, false);
    return by_dtype(x.dt, [&](auto t) { return reduce_t<decltype(t)>(x, red, keepdims, mean); });
}

}  // namespace

void register_norm(py::module_& m) {
    m.def("batch_norm", &batch_norm, py::arg("x"), py::arg("mean"), py::arg("var"), py::arg("weight") = py::none(),
          py::arg("bias") = py::none(), py::arg("eps") = 1e-5,
          "(x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1)");
    m.def("batch_norm_stats", &batch_norm_stats, py::arg("x"), "(mean, biased variance) per channel (axis 1)");
    m.def("batch_norm_backward", &batch_norm_backward, py::arg("grad"), py::arg("x"), py::arg("mean"), py::arg("var"),
          py::arg("weight") = py::none(), py::arg("eps") = 1e-5,
          "(grad_x, grad_weight, grad_bias) of training-mode batch_norm (stats from this batch)");
    m.def("sum", [](const py::handle& x, const py::handle& axes, bool keepdims) { return reduce(x, axes, keepdims, false); },
          py::arg("x"), py::arg("axes") = py::none(), py::arg("keepdims") = false, "sum over axes (None: all)");
    m.def("mean", [](const py::handle& x, const py::handle& axes, bool keepdims) { return reduce(x, axes, keepdims, true); },
          py::arg("x"), py::arg("axes") = py::none(), py::arg("keepdims") = false,
          "mean over axes (None: all); an empty reduction is NaN");
}

}  // namespace bind
}  // namespace halkit
