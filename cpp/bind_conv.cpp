// Bindings of conv2d and its input / weight gradients (NCHW, torch's geometry:
// stride, padding, dilation as an int or a pair, groups).  x may also be a
// channels-last array (NHWC memory, NCHW shape, e.g. torch's channels_last
// tensor seen through NumPy): it is read in place, never copied.
#include <algorithm>

#include "bind.hpp"

namespace halkit {
namespace bind {
namespace {

// x of a convolution: C-contiguous NCHW, or NHWC-dense with an NCHW shape.
Arr conv_input(const py::handle& o, const char* fn, const char* name, bool& nhwc) {
    nhwc = false;
    if (py::isinstance<py::array>(o)) {
        py::array a = py::reinterpret_borrow<py::array>(o);
        if (a.ndim() == 4 && !(a.flags() & py::array::c_style)) {
            const auto it = a.itemsize();
            const long C = a.shape(1), H = a.shape(2), W = a.shape(3);
            const bool cl = a.strides(1) == it && a.strides(3) == C * it && a.strides(2) == W * C * it &&
                            (a.shape(0) <= 1 || a.strides(0) == H * W * C * it);
            if (cl) {
                // the NHWC-dense memory as a C-contiguous (N, H, W, C) array: same bytes, checked like any input
                py::array nhwc_view = a.attr("transpose")(0, 2, 3, 1);
                Arr r = float_arg(nhwc_view, fn, name);
                nhwc = true;
                return r;
            }
        }
    }
    return float_arg(o, fn, name);
}

struct Geometry {
    long stride[2], padding[2], dilation[2], groups;
};

Geometry geometry(const py::handle& stride, const py::handle& padding, const py::handle& dilation,
                  const py::handle& groups, const char* fn) {
    Geometry g;
    int_pair(stride, fn, "stride", 1, g.stride);
    int_pair(padding, fn, "padding", 0, g.padding);
    int_pair(dilation, fn, "dilation", 1, g.dilation);
    g.groups = int_arg(groups, fn, "groups", 1);
    return g;
}

// Fills `cg` from x's NCHW shape, w's OIHW shape and the geometry; ValueError on any mismatch.
void conv_geom(const char* fn, long N, long C, long H, long W, long O, long wC, long kh, long kw, const Geometry& g,
               bool nhwc, ConvGeom& cg) {
    if (C != wC * g.groups || O % g.groups)
        value_err(std::string(fn) + ": x has " + std::to_string(C) + " channels and w is (" + std::to_string(O) + ", " +
                  std::to_string(wC) + ", " + std::to_string(kh) + ", " + std::to_string(kw) + ") with groups=" +
                  std::to_string(g.groups) + ": need C = w.shape[1]*groups and out_channels divisible by groups");
    if (kh < 1 || kw < 1) value_err(std::string(fn) + ": the kernel must be at least 1x1, got " +
                                    std::to_string(kh) + "x" + std::to_string(kw));
    const long span_h = H + 2 * g.padding[0] - g.dilation[0] * (kh - 1) - 1;
    const long span_w = W + 2 * g.padding[1] - g.dilation[1] * (kw - 1) - 1;
    if (span_h < 0 || span_w < 0)
        value_err(std::string(fn) + ": input (" + std::to_string(H) + ", " + std::to_string(W) + ") with padding (" +
                  std::to_string(g.padding[0]) + ", " + std::to_string(g.padding[1]) +
                  ") is smaller than the dilated kernel: empty output");
    cg = ConvGeom{N, C, H, W, O, kh, kw, span_h / g.stride[0] + 1, span_w / g.stride[1] + 1, g.stride[0],
                  g.stride[1], g.padding[0], g.padding[1], g.dilation[0], g.dilation[1], g.groups, nhwc};
}

// x's NCHW shape (x is the NHWC view when nhwc)
void nchw(const Arr& x, bool nhwc, long s[4]) {
    if (nhwc) {
        s[0] = x.dim(0), s[1] = x.dim(3), s[2] = x.dim(1), s[3] = x.dim(2);
    } else {
        s[0] = x.dim(0), s[1] = x.dim(1), s[2] = x.dim(2), s[3] = x.dim(3);
    }
}

py::array conv2d(const py::handle& xo, const py::handle& wo, const py::handle& bo, const py::handle& stride,
                 const py::handle& padding, const py::handle& dilation, const py::handle& groups) {
    const char* fn = "conv2d";
    bool nhwc;
    const Arr x = conv_input(xo, fn, "x", nhwc);
    const Arr w = float_arg(wo, fn, "w");
    same_dtype(x, w, fn, "x", "w");
    if (x.ndim() != 4 || w.ndim() != 4)
        value_err("conv2d: x and w must be 4-D (NCHW and OIHW), got " + shape_str(x.a) + " and " + shape_str(w.a));
    const Geometry g = geometry(stride, padding, dilation, groups, fn);
    long s[4];
    nchw(x, nhwc, s);
    ConvGeom cg;
    conv_geom(fn, s[0], s[1], s[2], s[3], w.dim(0), w.dim(1), w.dim(2), w.dim(3), g, nhwc, cg);
    const Arr b = optional_arg(bo, fn, "bias");
    check_vector(b, cg.O, x, fn, "bias", "w's out_channels");
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>({cg.N, cg.O, cg.OH, cg.OW});
        const T* xp = x.ptr<T>();
        const T* wp = w.ptr<T>();
        const T* bp = present(b) ? b.ptr<T>() : nullptr;
        T* yp = y.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().conv2d(cg, xp, wp, bp, yp, parallel());
        }
        return std::move(y);
    });
}

py::array conv2d_input_grad(const py::handle& go, const py::handle& wo, const py::handle& input_shape,
                            const py::handle& stride, const py::handle& padding, const py::handle& dilation,
                            const py::handle& groups) {
    const char* fn = "conv2d_input_grad";
    const Arr gr = float_arg(go, fn, "grad"), w = float_arg(wo, fn, "w");
    same_dtype(gr, w, fn, "grad", "w");
    if (gr.ndim() != 4 || w.ndim() != 4)
        value_err("conv2d_input_grad: grad and w must be 4-D (NCHW and OIHW), got " + shape_str(gr.a) + " and " +
                  shape_str(w.a));
    std::vector<long> xs;
    try {
        for (auto v : py::reinterpret_borrow<py::sequence>(input_shape)) xs.push_back(v.cast<long>());
    } catch (const py::error_already_set&) {
        xs.clear();
    } catch (const py::cast_error&) {
        xs.clear();
    }
    if (!py::isinstance<py::sequence>(input_shape) || xs.size() != 4 ||
        std::any_of(xs.begin(), xs.end(), [](long v) { return v < 0; }))
        value_err("conv2d_input_grad: input_shape must be 4 non-negative ints (N, C, H, W), got " +
                  std::string(py::repr(input_shape)));
    const Geometry g = geometry(stride, padding, dilation, groups, fn);
    ConvGeom cg;
    conv_geom(fn, xs[0], xs[1], xs[2], xs[3], w.dim(0), w.dim(1), w.dim(2), w.dim(3), g, false, cg);
    const std::vector<long> out{cg.N, cg.O, cg.OH, cg.OW};
    if (gr.shape() != out)
        value_err("conv2d_input_grad: grad has shape " + shape_str(gr.a) + "; the convolution's output is " +
                  shape_str(out));
    return by_dtype(gr.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto dx = new_array<T>(xs);
        const T* gp = gr.ptr<T>();
        const T* wp = w.ptr<T>();
        T* dxp = dx.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().conv2d_input_grad(cg, gp, wp, dxp, parallel());
        }
        return std::move(dx);
    });
}

py::array conv2d_weight_grad(const py::handle& go, const py::handle& xo, const py::handle& kernel_size,
                             const py::handle& stride, const py::handle& padding, const py::handle& dilation,
                             const py::handle& groups) {
    const char* fn = "conv2d_weight_grad";
    bool nhwc;
    const Arr gr = float_arg(go, fn, "grad");
    const Arr x = conv_input(xo, fn, "x", nhwc);
    same_dtype(gr, x, fn, "grad", "x");
    if (gr.ndim() != 4 || x.ndim() != 4)
        value_err("conv2d_weight_grad: grad and x must be 4-D (NCHW), got " + shape_str(gr.a) + " and " +
                  shape_str(x.a));
    long k[2];
    int_pair(kernel_size, fn, "kernel_size", 1, k);
    const Geometry g = geometry(stride, padding, dilation, groups, fn);
    long s[4];
    nchw(x, nhwc, s);
    if (s[1] % g.groups)
        value_err("conv2d_weight_grad: x has " + std::to_string(s[1]) + " channels, not divisible by groups=" +
                  std::to_string(g.groups));
    ConvGeom cg;
    conv_geom(fn, s[0], s[1], s[2], s[3], gr.dim(1), s[1] / g.groups, k[0], k[1], g, nhwc, cg);
    const std::vector<long> out{cg.N, cg.O, cg.OH, cg.OW};
    if (gr.shape() != out)
        value_err("conv2d_weight_grad: grad has shape " + shape_str(gr.a) + "; the convolution's output is " +
                  shape_str(out));
    return by_dtype(gr.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto dw = new_array<T>({cg.O, cg.C / cg.groups, cg.kh, cg.kw});
        const T* gp = gr.ptr<T>();
        const T* xp = x.ptr<T>();
        T* dwp = dw.mutable_data();
        {
            py::gil_scoped_release nogil;
            ks<T>().conv2d_weight_grad(cg, gp, xp, dwp, parallel());
        }
        return std::move(dw);
    });
}

}  // namespace

void register_conv(py::module_& m) {
    const auto one = py::make_tuple(1, 1), zero = py::make_tuple(0, 0);
    m.def("conv2d", &conv2d, py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("stride") = one,
          py::arg("padding") = zero, py::arg("dilation") = one, py::arg("groups") = 1,
          "NCHW cross-correlation like torch.nn.functional.conv2d (groups included); x may be channels-last");
    m.def("conv2d_input_grad", &conv2d_input_grad, py::arg("grad"), py::arg("w"), py::arg("input_shape"),
          py::arg("stride") = one, py::arg("padding") = zero, py::arg("dilation") = one, py::arg("groups") = 1,
          "gradient of conv2d with respect to x (an NCHW array of input_shape)");
    m.def("conv2d_weight_grad", &conv2d_weight_grad, py::arg("grad"), py::arg("x"), py::arg("kernel_size"),
          py::arg("stride") = one, py::arg("padding") = zero, py::arg("dilation") = one, py::arg("groups") = 1,
          "gradient of conv2d with respect to w (O, C/groups, kh, kw)");
}

}  // namespace bind
}  // namespace halkit
