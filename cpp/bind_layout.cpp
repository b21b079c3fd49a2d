// Bindings and kernels of the ops that only move data: embedding (a row
// gather) and its backward scatter-add, cat, and copy_strided (a view of a flat
// storage, as torch's as_strided, copied dense).  Plain C++ (memcpy and index
// arithmetic; no ISA-specific code), split over the pool when large.
#include <algorithm>
#include <cstring>

#include "bind.hpp"

namespace halkit {
namespace bind {
namespace {

// An int64 C-contiguous index array (the op set's index dtype).
py::array index_arg(const py::handle& o, const char* fn, const char* name) {
    if (!py::isinstance<py::array>(o))
        type_err(std::string(fn) + ": " + name + " must be a numpy.ndarray of int64, got " +
                 std::string(py::str(py::type::handle_of(o).attr("__name__"))));
    py::array a = py::reinterpret_borrow<py::array>(o);
    if (!a.dtype().is(py::dtype::of<int64_t>()))
        type_err(std::string(fn) + ": " + name + " must be int64, got " + std::string(py::str(a.dtype())));
    if (!(a.flags() & py::array::c_style))
        value_err(std::string(fn) + ": " + name + " must be C-contiguous (use np.ascontiguousarray)");
    if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) a = py::reinterpret_steal<py::array>(a.attr("copy")().release());
    return a;
}

// every index in [0, limit), else IndexError quoting the range seen
void check_indices(const int64_t* idx, long n, long limit, const char* fn) {
    if (n == 0) return;
    const auto mm = std::minmax_element(idx, idx + n);
    if (*mm.first < 0 || *mm.second >= limit)
        throw py::index_error(std::string(fn) + ": indices must be in [0, " + std::to_string(limit) +
                              "), got values from " + std::to_string(*mm.first) + " to " + std::to_string(*mm.second));
}

// bytes-moving work: split from 1 MiB
constexpr double kCopyThreshold = double(1L << 20);

py::array embedding(const py::handle& wo, const py::handle& io) {
    const char* fn = "embedding";
    const Arr w = float_arg(wo, fn, "weight");
    if (w.ndim() != 2) value_err("embedding: weight must be 2-D (num_embeddings, dim), got " + shape_str(w.a));
    const py::array idx = index_arg(io, fn, "indices");
    const long n = long(idx.size()), V = w.dim(0), D = w.dim(1);
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    check_indices(ip, n, V, fn);
    std::vector<long> shape(idx.shape(), idx.shape() + idx.ndim());
    shape.push_back(D);
    return by_dtype(w.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>(shape);
        const T* wp = w.ptr<T>();
        T* yp = y.mutable_data();
        {
            py::gil_scoped_release nogil;
            const long nchunks = chunks_for(double(n) * D * sizeof(T), kCopyThreshold, n, 16);
            auto task = [&](long ch) {
                long lo, hi;
                split(n, ch, nchunks, 1, lo, hi);
                for (long r = lo; r < hi; ++r) std::memcpy(yp + r * D, wp + ip[r] * D, D * sizeof(T));
            };
            run_chunks(nchunks, task);
        }
        return std::move(y);
    });
}

// padding_idx: rows of grad at that index add nothing (torch's padding row gets no gradient); -1: none.
py::array embedding_backward(const py::handle& go, const py::handle& io, const py::handle& num_weights,
                             const py::handle& padding_idx) {
    const char* fn = "embedding_backward";
    const Arr g = float_arg(go, fn, "grad");
    const py::array idx = index_arg(io, fn, "indices");
    const long V = int_arg(num_weights, fn, "num_weights", 0);
    const long pad = int_arg(padding_idx, fn, "padding_idx", -1);
    if (pad >= V)
        value_err(std::string(fn) + ": padding_idx must be -1 (none) or in [0, num_weights = " + std::to_string(V) +
                  "), got " + std::to_string(pad));
    const std::vector<long> gs = g.shape();
    if (gs.empty() || std::vector<long>(gs.begin(), gs.end() - 1) != std::vector<long>(idx.shape(), idx.shape() + idx.ndim()))
        value_err(std::string(fn) + ": grad " + shape_str(g.a) + " must be indices' shape " + shape_str(idx) +
                  " + (dim,)");
    const long n = long(idx.size()), D = gs.back();
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    check_indices(ip, n, V, fn);
    return by_dtype(g.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>({V, D});
        const T* gp = g.ptr<T>();
        T* yp = y.mutable_data();
        {
            py::gil_scoped_release nogil;
            // A large table's zero fill outweighs the scatter (BERT: 30522 rows for 1024 indices): split by rows.
            rows_run(V, D, [&](long r0, long nr) { std::memset(yp + r0 * D, 0, nr * D * sizeof(T)); });
            // columns split over threads: each adds every index's row slice, in index order (no races)
            const long nchunks = chunks_for(double(n) * D * sizeof(T), kCopyThreshold, D, 64);
            auto task = [&](long ch) {
                long lo, hi;
                split(D, ch, nchunks, 16, lo, hi);
                for (long r = 0; r < n; ++r) {
                    if (ip[r] == pad) continue;
                    T* dst = yp + ip[r] * D;
                    const T* src = gp + r * D;
                    for (long j = lo; j < hi; ++j) dst[j] += src[j];
                }
            };
            run_chunks(nchunks, task);
        }
        return std::move(y);
    });
}

// bfloat16 <-> float32, the conversions of a bf16 GEMM's neighbours (a bias gradient summed in float32)
py::array cast_bf16(const py::handle& xo) {
    const Arr x = gemm_arg(xo, "cast_bf16", "x");
    if (x.dt == F64) type_err("cast_bf16: x must be bfloat16 or float32, got float64");
    const bool widen = x.dt == BF16;
    py::array y = widen ? py::array(new_array<float>(x.shape())) : py::array(bf16_dtype(), x.shape());
    const long n = x.size();
    {
        py::gil_scoped_release nogil;
        ew_run(n, [&](long o, long m) {
            if (widen) kernels().bf16_to_f32(x.ptr<bf16>() + o, static_cast<float*>(y.mutable_data()) + o, m);
            else kernels().f32_to_bf16(x.ptr<float>() + o, static_cast<bf16*>(y.mutable_data()) + o, m);
        });
    }
    return y;
}

py::array cat(const py::handle& xso, const py::handle& axis_o) {
    const char* fn = "cat";
    if (!py::isinstance<py::sequence>(xso) || py::isinstance<py::str>(xso))
        type_err("cat: xs must be a list of numpy arrays");
    std::vector<Arr> xs;
    for (auto h : py::reinterpret_borrow<py::sequence>(xso)) {
        const std::string name = "xs[" + std::to_string(xs.size()) + "]";
        xs.push_back(float_arg(h, fn, name.c_str()));
    }
    if (xs.empty()) value_err("cat: needs at least one array");
    const Arr& first = xs[0];
    const int nd = first.ndim();
    if (nd == 0) value_err("cat: 0-D arrays cannot be concatenated");
    const long a = int_arg(axis_o, fn, "axis", -nd);
    if (a >= nd) value_err("cat: axis must be in [" + std::to_string(-nd) + ", " + std::to_string(nd) + "), got " +
                           std::to_string(a));
    const int ax = int((a + nd) % nd);
    long total = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
        const Arr& x = xs[i];
        bool ok = x.dt == first.dt && x.ndim() == nd;
        for (int d = 0; ok && d < nd; ++d) ok = d == ax || x.dim(d) == first.dim(d);
        if (!ok)
            value_err("cat: xs[" + std::to_string(i) + "] is " + shape_str(x.a) + " " + dt_name(x.dt) +
                      "; every array must match xs[0] " + shape_str(first.a) + " " + dt_name(first.dt) +
                      " except along axis " + std::to_string(ax));
        total += x.dim(ax);
    }
    std::vector<long> shape = first.shape();
    shape[ax] = total;
    long outer = 1, inner = 1;
    for (int d = 0; d < ax; ++d) outer *= shape[d];
    for (int d = ax + 1; d < nd; ++d) inner *= shape[d];
    return by_dtype(first.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>(shape);
        T* yp = y.mutable_data();
        std::vector<const T*> src;
        std::vector<long> width;  // elements of x per outer row
        for (const Arr& x : xs) {
            src.push_back(x.ptr<T>());
            width.push_back(x.dim(ax) * inner);
        }
        {
            py::gil_scoped_release nogil;
            const long row = total * inner;
            const long nchunks = chunks_for(double(outer) * row * sizeof(T), kCopyThreshold, outer, 1);
            auto task = [&](long ch) {
                long lo, hi;
                split(outer, ch, nchunks, 1, lo, hi);
                for (long o = lo; o < hi; ++o) {
                    T* dst = yp + o * row;
                    for (size_t i = 0; i < src.size(); ++i) {
                        std::memcpy(dst, src[i] + o * width[i], width[i] * sizeof(T));
                        dst += width[i];
                    }
                }
            };
            run_chunks(nchunks, task);
        }
        return std::move(y);
    });
}

std::vector<long> int_list(const py::handle& o, const char* fn, const char* name, long minimum) {
    if (!py::isinstance<py::sequence>(o) || py::isinstance<py::str>(o))
        value_err(std::string(fn) + ": " + name + " must be a sequence of ints, got " + std::string(py::repr(o)));
    std::vector<long> v;
    for (auto h : py::reinterpret_borrow<py::sequence>(o)) v.push_back(int_arg(h, fn, name, minimum));
    return v;
}

// A dense copy of the view (shape, strides, offset; in elements) of x's flat storage.
py::array copy_strided(const py::handle& xo, const py::handle& shape_o, const py::handle& strides_o,
                       const py::handle& offset_o) {
    const char* fn = "copy_strided";
    const Arr x = float_arg(xo, fn, "x");
    const std::vector<long> shape = int_list(shape_o, fn, "shape", 0), strides = int_list(strides_o, fn, "strides", 0);
    const long offset = int_arg(offset_o, fn, "offset", 0);
    if (shape.size() != strides.size())
        value_err("copy_strided: shape " + shape_str(shape) + " and strides " + shape_str(strides) +
                  " must have the same length");
    long count = 1, reach = offset;
    for (size_t d = 0; d < shape.size(); ++d) {
        count *= shape[d];
        if (shape[d] > 0) reach += (shape[d] - 1) * strides[d];
    }
    if (count > 0 && reach >= x.size())
        value_err("copy_strided: view (shape " + shape_str(shape) + ", strides " + shape_str(strides) + ", offset " +
                  std::to_string(offset) + ") reaches outside the " + std::to_string(x.size()) + " elements of x");
    return by_dtype(x.dt, [&](auto t) -> py::array {
        using T = decltype(t);
        auto y = new_array<T>(shape);
        const T* xp = x.ptr<T>() + offset;
        T* yp = y.mutable_data();
        if (count == 0) return std::move(y);
        {
            py::gil_scoped_release nogil;
            const int nd = int(shape.size());
            if (nd == 0) {
                yp[0] = xp[0];
            } else {
                const long last = shape[nd - 1], ls = strides[nd - 1], rows = count / last;
                // rows of the last dim split over threads; each row's source from its multi-index
                const long nchunks = chunks_for(double(count) * sizeof(T), kCopyThreshold, rows, 1);
                auto task = [&](long ch) {
                    long lo, hi;
                    split(rows, ch, nchunks, 1, lo, hi);
                    for (long r = lo; r < hi; ++r) {
                        long rem = r, src = 0;
                        for (int d = nd - 2; d >= 0; --d) {
                            src += (rem % shape[d]) * strides[d];
                            rem /= shape[d];
                        }
                        const T* s = xp + src;
                        T* dst = yp + r * last;
                        if (ls == 1) std::memcpy(dst, s, last * sizeof(T));
                        else for (long j = 0; j < last; ++j) dst[j] = s[j * ls];
                    }
                };
                run_chunks(nchunks, task);
            }
        }
        return std::move(y);
    });
}

}  // namespace

void register_layout(py::module_& m) {
    m.def("embedding", &embedding, py::arg("weight"), py::arg("indices"), "weight[indices] (int64 indices)");
    m.def("embedding_backward", &embedding_backward, py::arg("grad"), py::arg("indices"), py::arg("num_weights") = 0,
          py::arg("padding_idx") = -1,
          "scatter-add of grad rows into a (num_weights, dim) zero array, rows at padding_idx (>= 0) skipped");
    m.def("cast_bf16", &cast_bf16, py::arg("x"),
          "bfloat16 x widened to float32 (exact), or float32 x rounded to bfloat16 (nearest even, NaN kept)");
    m.def("cat", &cat, py::arg("xs"), py::arg("axis") = 0, "concatenate along axis");
    m.def("copy_strided", &copy_strided, py::arg("x"), py::arg("shape") = py::tuple(),
          py::arg("strides") = py::tuple(), py::arg("offset") = 0,
          "a dense copy of the view (shape, strides, offset; in elements) of x's flat storage");
}

}  // namespace bind
}  // namespace halkit
