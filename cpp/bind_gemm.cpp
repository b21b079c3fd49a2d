// Bindings of the GEMMs: gemm (act(op(a) op(b) + bias)) and bmm (batched).
#include "bind.hpp"

namespace halkit {
namespace bind {
namespace {

template <class T>
py::array gemm_t(const Arr& a, const Arr& b, bool ta, bool tb, const Arr& bias, int act) {
    const long M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
    const long N = tb ? b.dim(0) : b.dim(1);
    auto c = new_array<T>({M, N});
    GemmProblem<T> p{a.ptr<T>(), b.ptr<T>(), c.mutable_data(), present(bias) ? bias.ptr<T>() : nullptr,
                     M, N, K, a.dim(1), b.dim(1), N, ta, tb, act};
    if (M > 0 && N > 0) {
        py::gil_scoped_release nogil;
        ks<T>().gemm(p, parallel());
    }
    return std::move(c);
}

// bfloat16: float32 products and sums, C rounded once (the route chosen at import)
py::array gemm_bf16_t(const Arr& a, const Arr& b, bool ta, bool tb, const Arr& bias, int act) {
    const long M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
    const long N = tb ? b.dim(0) : b.dim(1);
    py::array c(bf16_dtype(), std::vector<py::ssize_t>{M, N});
    GemmProblem<bf16> p{a.ptr<bf16>(), b.ptr<bf16>(), static_cast<bf16*>(c.mutable_data()),
                        present(bias) ? bias.ptr<bf16>() : nullptr, M, N, K, a.dim(1), b.dim(1), N, ta, tb, act};
    if (M > 0 && N > 0) {
        py::gil_scoped_release nogil;
        gemm_bf16(p, parallel());
    }
    return c;
}

py::array gemm(const py::handle& ao, const py::handle& bo, bool ta, bool tb, const py::handle& biaso, int act) {
    const char* fn = "gemm";
    const Arr a = gemm_arg(ao, fn, "a"), b = gemm_arg(bo, fn, "b");
    same_dtype(a, b, fn, "a", "b");
    if (a.ndim() != 2) value_err(std::string("gemm: a must be 2-D, got shape ") + shape_str(a.a));
    if (b.ndim() != 2) value_err(std::string("gemm: b must be 2-D, got shape ") + shape_str(b.a));
    const long Ka = ta ? a.dim(0) : a.dim(1), Kb = tb ? b.dim(1) : b.dim(0);
    const long N = tb ? b.dim(0) : b.dim(1);
    if (Ka != Kb)
        value_err("gemm: inner dimensions differ: op(a) has " + std::to_string(Ka) + " columns, op(b) has " +
                  std::to_string(Kb) + " rows (a " + shape_str(a.a) + (ta ? " transposed" : "") + ", b " +
                  shape_str(b.a) + (tb ? " transposed" : "") + ")");
    if (act < 0 || act > 2)
        value_err("gemm: activation must be 0 (none), 1 (relu) or 2 (gelu), got " + std::to_string(act));
    const Arr bias = biaso.is_none() ? Arr{} : gemm_arg(biaso, fn, "bias");
    if (present(bias)) {
        same_dtype(a, bias, fn, "a", "bias");
        if (bias.ndim() != 1 || bias.dim(0) != N)
            value_err("gemm: bias must be 1-D of length " + std::to_string(N) + ", got shape " + shape_str(bias.a));
    }
    if (a.dt == BF16) return gemm_bf16_t(a, b, ta, tb, bias, act);
    return by_dtype(a.dt, [&](auto t) { return gemm_t<decltype(t)>(a, b, ta, tb, bias, act); });
}

// op(a[i]) @ op(b[i]): batch items split over the pool when each GEMM is small,
// else one item after the other with the GEMM itself threaded.
template <class T> py::array bmm_t(const Arr& a, const Arr& b, bool ta, bool tb) {
    const long B = a.dim(0);
    const long M = ta ? a.dim(2) : a.dim(1), K = ta ? a.dim(1) : a.dim(2);
    const long N = tb ? b.dim(1) : b.dim(2);
    auto c = new_array<T>({B, M, N});
    if (B == 0 || M == 0 || N == 0) return std::move(c);
    const T* ap = a.ptr<T>();
    const T* bp = b.ptr<T>();
    T* cp = c.mutable_data();
    const long sa = a.dim(1) * a.dim(2), sb = b.dim(1) * b.dim(2), sc = M * N;
    {
        py::gil_scoped_release nogil;
        const double macs = double(M) * N * std::max<long>(K, 1);
        const Parallel par = parallel();
        const bool per_item = macs < 64.0 * 64 * 64 * 8 && B > 1;  // small GEMMs: threads over the batch
        const Parallel inner = per_item ? Parallel{1, nullptr} : par;
        auto item = [&](long i) {
            GemmProblem<T> p{ap + i * sa, bp + i * sb, cp + i * sc, nullptr, M, N, K, a.dim(2), b.dim(2), N, ta, tb,
                             ACT_NONE};
            ks<T>().gemm(p, inner);
        };
        if (per_item) {
            const long nchunks = chunks_for(macs * double(B), 128.0 * 128 * 128, B, 1);
            auto task = [&](long ch) {
                long lo, hi;
                split(B, ch, nchunks, 1, lo, hi);
                for (long i = lo; i < hi; ++i) item(i);
            };
            run_chunks(nchunks, task);
        } else {
            for (long i = 0; i < B; ++i) item(i);
        }
    }
    return std::move(c);
}

py::array bmm(const py::handle& ao, const py::handle& bo, bool ta, bool tb) {
    const char* fn = "bmm";
    const Arr a = float_arg(ao, fn, "a"), b = float_arg(bo, fn, "b");
    same_dtype(a, b, fn, "a", "b");
    if (a.ndim() != 3 || b.ndim() != 3 || a.dim(0) != b.dim(0))
        value_err("bmm: a and b must be 3-D with the same batch size, got " + shape_str(a.a) + " and " +
                  shape_str(b.a));
    const long Ka = ta ? a.dim(1) : a.dim(2), Kb = tb ? b.dim(2) : b.dim(1);
    if (Ka != Kb)
        value_err("bmm: inner dimensions differ: op(a[i]) has " + std::to_string(Ka) + " columns, op(b[i]) has " +
                  std::to_string(Kb) + " rows (a " + shape_str(a.a) + ", b " + shape_str(b.a) + ")");
    return by_dtype(a.dt, [&](auto t) { return bmm_t<decltype(t)>(a, b, ta, tb); });
}

}  // namespace

void register_gemm(py::module_& m) {
    m.def("gemm", &gemm, py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
          py::arg("bias") = py::none(), py::arg("activation") = 0,
          "act(op(a) @ op(b) + bias) as a new C-contiguous array; activation 0 none, 1 relu, 2 gelu (erf); "
          "float32, float64 or bfloat16 (ml_dtypes; float32 products and sums, the result rounded once)");
    m.def("bmm", &bmm, py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
          "op(a[i]) @ op(b[i]) for each batch index i (3-D a, b) as a new array");
}

}  // namespace bind
}  // namespace halkit
