// Bindings of max / average / adaptive average pooling over NCHW and their
// backward passes (torch's geometry: kernel_size, stride (None: the kernel),
// padding at most half the kernel, dilation for max, ceil_mode, count_include_pad).
#include "bind.hpp"

namespace halkit {
namespace bind {
namespace {

long floor_div(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// torch's output length (halkit.hal.opset.conv_output_size), ceil_mode included:
// the last window must start inside the input or its left padding
long pool_out(long size, long k, long s, long p, long d, bool ceil_mode) {
    const long span = size + 2 * p - d * (k - 1) - 1;
    long out = (ceil_mode ? -floor_div(-span, s) : floor_div(span, s)) + 1;
    if (ceil_mode && (out - 1) * s >= size + p) --out;
    return out;
}

PoolGeom pool_geom(const Arr& x, const char* fn, const py::handle& kernel_size, const py::handle& stride,
                   const py::handle& padding, const py::handle& dilation, bool ceil_mode, bool count_include_pad) {
    if (x.ndim() != 4) value_err(std::string(fn) + ": x must be 4-D (N, C, H, W), got " + shape_str(x.a));
    long k[2], s[2], p[2], d[2] = {1, 1};
    int_pair(kernel_size, fn, "kernel_size", 1, k);
    if (stride.is_none()) s[0] = k[0], s[1] = k[1];
    else int_pair(stride, fn, "stride", 1, s);
    int_pair(padding, fn, "padding", 0, p);
    if (!dilation.is_none()) int_pair(dilation, fn, "dilation", 1, d);
    if (2 * p[0] > k[0] || 2 * p[1] > k[1])
        value_err(std::string(fn) + ": padding (" + std::to_string(p[0]) + ", " + std::to_string(p[1]) +
                  ") must be at most half the kernel size (" + std::to_string(k[0]) + ", " + std::to_string(k[1]) + ")");
    PoolGeom g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), 0, 0, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1],
               count_include_pad};
    g.OH = pool_out(g.H, k[0], s[0], p[0], d[0], ceil_mode);
    g.OW = pool_out(g.W, k[1], s[1], p[1], d[1], ceil_mode);
    if (g.OH < 1 || g.OW < 1)
        value_err(std::string(fn) + ": input (" + std::to_string(g.H) + ", " + std::to_string(g.W) +
                  ") is smaller than the pooling window: empty output");
    return g;
}

void check_grad(const Arr& g, const Arr& x, const PoolGeom& pg, const char* fn) {
    same_dtype(g, x, fn, "grad", "x");
    const std::vector<long> out{pg.N, pg.C, pg.OH, pg.OW};
    if (g.shape() != out)
        value_err(std::string(fn) + ": grad has shape " + shape_str(g.a) + "; the pooling output is " + shape_str(out));
}

py::array max_pool2d(const py::handle& xo, const py::handle& k, const py::handle& s, const py::handle& p,
                     const py::handle& d, bool ceil_mode) {
    const char* fn = "max_pool2d";
    const Arr x = float_arg(xo, fn, "x");
    const PoolGeom g = pool_geom(x, fn, k, s, p, d, ceil_mode, false);
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>({g.N, g.C, g.OH, g.OW});
        T* yp = y.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().max_pool2d(g, x.ptr<T>(), yp, parallel());
        }
        return std::move(y);
    });
}

py::array max_pool2d_backward(const py::handle& go, const py::handle& xo, const py::handle& k, const py::handle& s,
                              const py::handle& p, const py::handle& d, bool ceil_mode) {
    const char* fn = "max_pool2d_backward";
    const Arr gr = float_arg(go, fn, "grad"), x = float_arg(xo, fn, "x");
    const PoolGeom g = pool_geom(x, fn, k, s, p, d, ceil_mode, false);
    check_grad(gr, x, g, fn);
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto dx = new_like<T>(x);
        T* dp = dx.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().max_pool2d_bw(g, gr.ptr<T>(), x.ptr<T>(), dp, parallel());
        }
        return std::move(dx);
    });
}

py::array avg_pool2d(const py::handle& xo, const py::handle& k, const py::handle& s, const py::handle& p,
                     bool ceil_mode, bool count_include_pad, const py::handle& d) {
    const char* fn = "avg_pool2d";
    const Arr x = float_arg(xo, fn, "x");
    (void)d;  // the reference (and the op's shape rule) pool with dilation 1
    const PoolGeom g = pool_geom(x, fn, k, s, p, py::none(), ceil_mode, count_include_pad);
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>({g.N, g.C, g.OH, g.OW});
        T* yp = y.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().avg_pool2d(g, x.ptr<T>(), yp, parallel());
        }
        return std::move(y);
    });
}

py::array avg_pool2d_backward(const py::handle& go, const py::handle& xo, const py::handle& k, const py::handle& s,
                              const py::handle& p, bool ceil_mode, bool count_include_pad, const py::handle& d) {
    const char* fn = "avg_pool2d_backward";
    const Arr gr = float_arg(go, fn, "grad"), x = float_arg(xo, fn, "x");
    (void)d;
    const PoolGeom g = pool_geom(x, fn, k, s, p, py::none(), ceil_mode, count_include_pad);
    check_grad(gr, x, g, fn);
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto dx = new_like<T>(x);
        T* dp = dx.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().avg_pool2d_bw(g, gr.ptr<T>(), dp, parallel());
        }
        return std::move(dx);
    });
}

void adaptive_out(const Arr& x, const py::handle& output_size, const char* fn, long out[2]) {
    if (x.ndim() != 4) value_err(std::string(fn) + ": x must be 4-D (N, C, H, W), got " + shape_str(x.a));
    int_pair(output_size, fn, "output_size", 1, out);
}

py::array adaptive_avg_pool2d(const py::handle& xo, const py::handle& output_size) {
    const char* fn = "adaptive_avg_pool2d";
    const Arr x = float_arg(xo, fn, "x");
    long o[2];
    adaptive_out(x, output_size, fn, o);
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>({x.dim(0), x.dim(1), o[0], o[1]});
        T* yp = y.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().adaptive_avg_pool2d(x.dim(0) * x.dim(1), x.dim(2), x.dim(3), o[0], o[1], x.ptr<T>(), yp,
                                        parallel());
        }
        return std::move(y);
    });
}

py::array adaptive_avg_pool2d_backward(const py::handle& go, const py::handle& xo, const py::handle& output_size) {
    const char* fn = "adaptive_avg_pool2d_backward";
    const Arr gr = float_arg(go, fn, "grad"), x = float_arg(xo, fn, "x");
    same_dtype(gr, x, fn, "grad", "x");
    long o[2];
    adaptive_out(x, output_size, fn, o);
    const std::vector<long> out{x.dim(0), x.dim(1), o[0], o[1]};
    if (gr.shape() != out)
        value_err(std::string(fn) + ": grad has shape " + shape_str(gr.a) + ", expected " + shape_str(out));
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto dx = new_like<T>(x);
        T* dp = dx.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().adaptive_avg_pool2d_bw(x.dim(0) * x.dim(1), x.dim(2), x.dim(3), o[0], o[1], gr.ptr<T>(), dp,
                                           parallel());
        }
        return std::move(dx);
    });
}

}  // namespace

void register_pool(py::module_& m) {
    m.def("max_pool2d", &max_pool2d, py::arg("x"), py::arg("kernel_size") = 1, py::arg("stride") = py::none(),
          py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("ceil_mode") = false,
          "max over each window (NaN propagates, padding never wins)");
    m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad"), py::arg("x"), py::arg("kernel_size") = 1,
          py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("ceil_mode") = false,
          "the gradient goes to the first maximum of each window (the first NaN, if any)");
    m.def("avg_pool2d", &avg_pool2d, py::arg("x"), py::arg("kernel_size") = 1, py::arg("stride") = py::none(),
          py::arg("padding") = 0, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
          py::arg("dilation") = 1, "mean over each window, torch's divisor");
    m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad"), py::arg("x"), py::arg("kernel_size") = 1,
          py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
          py::arg("count_include_pad") = true, py::arg("dilation") = 1);
    m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d, py::arg("x"), py::arg("output_size") = py::make_tuple(1, 1),
          "mean over bins [floor(i H / OH), ceil((i + 1) H / OH))");
    m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward, py::arg("grad"), py::arg("x"),
          py::arg("output_size") = py::make_tuple(1, 1));
}

}  // namespace bind
}  // namespace halkit
