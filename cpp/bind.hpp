// What every binding file of halkit._native shares: argument checks that raise
// TypeError/ValueError naming the function and the argument, new output
// arrays, the kernels of the ISA chosen at import, and the threading helpers.
//
// Every entry point follows one pattern: check the arguments (dtype, byte order,
// C-contiguity, rank, shapes; an unaligned array is copied, as NumPy accepts
// those), allocate NEW outputs, release the GIL, run the kernel (split over the
// thread pool when the problem is big enough).  Inputs are never modified.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "kernels.hpp"
#include "threadpool.hpp"

namespace halkit {
namespace bind {

namespace py = pybind11;

// ------------------------------------------------------------------ kernels
const Kernels& kernels();  // the ISA chosen at import (module.cpp)
// The bf16 GEMM on the route chosen at import (dot products or widened).
void gemm_bf16(const GemmProblem<bf16>& p, const Parallel& par);
template <class T> const KernelSet<T>& ks() {
    if constexpr (sizeof(T) == 4) return kernels().f32;
    else return kernels().f64;
}

// ------------------------------------------------------------------ errors and checks
[[noreturn]] void type_err(const std::string& s);
[[noreturn]] void value_err(const std::string& s);

enum DT { F32 = 0, F64 = 1, BF16 = 2 };  // BF16: ml_dtypes.bfloat16, accepted by gemm_arg only
const char* dt_name(DT dt);

// A float array argument, ready for a kernel: dtype checked, C-contiguous
// (else ValueError), aligned (an unaligned array is replaced by an aligned copy).
struct Arr {
    py::array a;
    DT dt = F32;
    bool given = false;  // false: an optional argument passed as None
    int ndim() const { return int(a.ndim()); }
    long dim(int i) const { return long(a.shape(i)); }
    long size() const { return long(a.size()); }
    std::vector<long> shape() const;
    template <class T> const T* ptr() const { return static_cast<const T*>(a.data()); }
};
Arr float_arg(const py::handle& o, const char* fn, const char* name);
// float_arg that also takes bfloat16 (ml_dtypes): the GEMM's operands
Arr gemm_arg(const py::handle& o, const char* fn, const char* name);
py::dtype bf16_dtype();  // ml_dtypes.bfloat16 (imported on first use)
// None -> an Arr that is not present()
Arr optional_arg(const py::handle& o, const char* fn, const char* name);
inline bool present(const Arr& x) { return x.given; }

void same_dtype(const Arr& a, const Arr& b, const char* fn, const char* na, const char* nb);
void same_shape(const Arr& a, const Arr& b, const char* fn, const char* na, const char* nb);
// 1-D of length n (and x's dtype) when present
void check_vector(const Arr& v, long n, const Arr& x, const char* fn, const char* name, const char* what);
std::string shape_str(const py::array& a);
std::string shape_str(const std::vector<long>& s);
// an int (Python or NumPy, not bool) >= minimum; a pair of them from an int or a 2-sequence
long int_arg(const py::handle& o, const char* fn, const char* name, long minimum);
void int_pair(const py::handle& o, const char* fn, const char* name, long minimum, long out[2]);

template <class T> py::array_t<T> new_array(const std::vector<long>& shape) {
    return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}
template <class T> py::array_t<T> new_like(const Arr& x) { return new_array<T>(x.shape()); }

// f(float{}) or f(double{}) for the array's dtype
template <class F> auto by_dtype(DT dt, F&& f) { return dt == F32 ? f(float{}) : f(double{}); }

// ------------------------------------------------------------------ threading
Parallel parallel();  // the pool as the kernels see it

// Element-wise work is split only above these many elements.  Memory-bound
// ops (relu, add, ...) run at ~10 elements/ns on one core: below 128K elements
// (~13 us) a second core saves less than a worker wake-up can cost on a busy
// machine.  Transcendental ops (gelu, tanh, softmax, ...) are ~5x heavier per
// element, so they split from 16K elements.
constexpr long kEwThreshold = 1L << 17;
constexpr long kEwHeavyThreshold = 1L << 14;

// f(chunk) for chunk in [0, nchunks): inline when 1 chunk, else on the pool.
template <class F> void run_chunks(long nchunks, F& f) {
    if (nchunks <= 1) {
        if (nchunks == 1) f(0);
        return;
    }
    if (!pool().parallel_for(nchunks, f)) throw std::bad_alloc();
}
// Chunk count for `items` items of `work` total cost: 1 below the threshold,
// else up to 4 per thread (dynamic balance) but never below min_items each.
long chunks_for(double work, double threshold, long items, long min_items);
// [lo, hi) of chunk t of n items split in nt chunks aligned to `align`
void split(long n, long t, long nt, long align, long& lo, long& hi);

// kern(offset, count) over n elements, split when n >= threshold
template <class K> void ew_run(long n, K kern, long threshold = kEwThreshold) {
    const long nchunks = chunks_for(double(n), double(threshold), n, 8192);
    auto task = [&](long ch) {
        long lo, hi;
        split(n, ch, nchunks, 64, lo, hi);
        if (hi > lo) kern(lo, hi - lo);
    };
    run_chunks(nchunks, task);
}
// f(row0, nrows) over rows of n elements, split when rows * n >= threshold
template <class F> void rows_run(long rows, long n, F f, long threshold = kEwThreshold) {
    const long min_rows = std::max<long>(1, 8192 / std::max<long>(n, 1));
    const long nchunks = chunks_for(double(rows) * double(n), double(threshold), rows, min_rows);
    auto task = [&](long ch) {
        long lo, hi;
        split(rows, ch, nchunks, 1, lo, hi);
        if (hi > lo) f(lo, hi - lo);
    };
    run_chunks(nchunks, task);
}

// out[0:n] = the sum of `rows` dense rows of n elements, columns split over the pool in slabs of >= 256
template <class T> void sum_rows_run(const T* x, long rows, long n, T* out) {
    const long nchunks = chunks_for(double(rows) * double(n), double(kEwThreshold), n, 256);
    auto task = [&](long ch) {
        long lo, hi;
        split(n, ch, nchunks, 64, lo, hi);
        if (hi > lo) ks<T>().sum_rows(x + lo, rows, hi - lo, n, out + lo);
    };
    run_chunks(nchunks, task);
}

// ------------------------------------------------------------------ registration
void register_gemm(py::module_& m);
void register_eltwise(py::module_& m);
void register_conv(py::module_& m);
void register_norm(py::module_& m);
void register_pool(py::module_& m);
void register_layout(py::module_& m);
void register_host_kernels(py::module_& m);  // the host-kernel ABI (host_kernels.h)

}  // namespace bind
}  // namespace halkit
