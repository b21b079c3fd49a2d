// halkit._native: pybind11 bindings, input checks, ISA dispatch and threading.
//
// Every entry point: cheap checks (dtype, byte order, contiguity, alignment,
// rank, shapes) that raise TypeError/ValueError, allocate the output, take raw
// pointers, release the GIL and run the kernel (split over the thread pool
// when the problem is large enough).  Inputs are never copied or converted:
// arguments are declared .noconvert() and used in place.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "kernels.hpp"
#include "threadpool.hpp"

namespace py = pybind11;
using namespace halkit;

#ifndef HALKIT_BUILD_TYPE
#define HALKIT_BUILD_TYPE "unknown"
#endif

namespace {

// ------------------------------------------------------------------ ISA choice
const Kernels* g_k = &kernels_portable;
std::string g_isa_note;

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}
bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

void choose_isa() {
    const bool a512 = cpu_has_avx512(), a2 = cpu_has_avx2();
    const Kernels* best = a512 ? &kernels_avx512 : a2 ? &kernels_avx2 : &kernels_portable;
    const char* env = std::getenv("HALKIT_NATIVE_ISA");
    std::string want = env ? env : "";
    if (want.empty() || want == "auto") {
        g_k = best;
    } else if (want == "portable") {
        g_k = &kernels_portable;
    } else if (want == "avx2") {
        g_k = a2 ? &kernels_avx2 : &kernels_portable;
        if (!a2) g_isa_note = "HALKIT_NATIVE_ISA=avx2 but this CPU lacks AVX2/FMA: using portable";
    } else if (want == "avx512") {
        g_k = a512 ? &kernels_avx512 : best;
        if (!a512) g_isa_note = std::string("HALKIT_NATIVE_ISA=avx512 but this CPU lacks AVX-512: using ") + best->name;
    } else {
        g_k = best;
        g_isa_note = "HALKIT_NATIVE_ISA=" + want + " is not one of portable|avx2|avx512|auto: using " + best->name;
    }
}

int cpus_available() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    unsigned h = std::thread::hardware_concurrency();
    return h ? int(h) : 1;
}

std::string g_threads_note;
void choose_threads() {
    int n = cpus_available();
    if (const char* env = std::getenv("HALKIT_NUM_THREADS")) {
        char* end = nullptr;
        long v = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && v >= 1 && v <= 1024) n = int(v);
        else if (*env) g_threads_note = std::string("HALKIT_NUM_THREADS=") + env + " is not an integer >= 1: ignored";
    }
    set_pool_threads(n);
}

// ------------------------------------------------------------------ checks
enum DT { F32 = 0, F64 = 1 };

inline py::detail::PyArray_Proxy* proxy(const py::array& a) { return py::detail::array_proxy(a.ptr()); }

[[noreturn]] void type_err(const std::string& s) { throw py::type_error(s); }
[[noreturn]] void value_err(const std::string& s) { throw py::value_error(s); }

DT dtype_of(const py::array& a, const char* fn, const char* name) {
    auto* d = py::detail::array_descriptor_proxy(proxy(a)->descr);
    int num = d->type_num;
    if (num == py::detail::npy_api::NPY_FLOAT_ || num == py::detail::npy_api::NPY_DOUBLE_) {
        if (d->byteorder == '>')
            type_err(std::string(fn) + ": " + name + " has non-native byte order; use float32/float64 in native order");
        return num == py::detail::npy_api::NPY_FLOAT_ ? F32 : F64;
    }
    type_err(std::string(fn) + ": " + name + " must be float32 or float64, got " +
             std::string(py::str(a.dtype())));
}

void check_layout(const py::array& a, const char* fn, const char* name) {
    int flags = proxy(a)->flags;
    if (!(flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_))
        value_err(std::string(fn) + ": " + name + " must be C-contiguous (use np.ascontiguousarray)");
    if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        value_err(std::string(fn) + ": " + name + " must be aligned to its element size");
}

DT check(const py::array& a, const char* fn, const char* name) {
    DT t = dtype_of(a, fn, name);
    check_layout(a, fn, name);
    return t;
}

void same_dtype(DT a, DT b, const char* fn, const char* na, const char* nb) {
    if (a != b)
        type_err(std::string(fn) + ": " + na + " and " + nb + " must have the same dtype (got " +
                 (a == F32 ? "float32" : "float64") + " and " + (b == F32 ? "float32" : "float64") + ")");
}

std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += std::to_string(a.shape(i)) + (a.ndim() == 1 || i + 1 < a.ndim() ? "," : "");
    return s + ")";
}

// optional 1-D array of length n with dtype dt (None -> nullptr)
const void* optional_vec(const py::object& o, DT dt, long n, const char* fn, const char* name) {
    if (o.is_none()) return nullptr;
    if (!py::isinstance<py::array>(o)) type_err(std::string(fn) + ": " + name + " must be a numpy array or None");
    py::array a = py::reinterpret_borrow<py::array>(o);
    same_dtype(check(a, fn, name), dt, fn, "x", name);
    if (a.ndim() != 1 || a.shape(0) != n)
        value_err(std::string(fn) + ": " + name + " must be 1-D of length " + std::to_string(n) + ", got shape " +
                  shape_str(a));
    return a.data();
}

template <class T>
py::array_t<T> new_like(const py::array& a) {
    return py::array_t<T>(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
}

// ------------------------------------------------------------------ threading policy
// Element-wise work is split only above these many elements.  Memory-bound
// ops (relu, add, ...) run at ~10 elements/ns on one core: below 128K elements
// (~13 us) a second core saves less than a worker wake-up can cost on a busy
// machine.  Transcendental ops (gelu, softmax, layer_norm: erf/exp) are ~5x
// heavier per element, so they split from 16K elements.
constexpr long kEwThreshold = 1L << 17;
constexpr long kEwHeavyThreshold = 1L << 14;
// GEMM is split only from this many multiply-adds (measured, 2 cores: 128^3 runs
// 41 -> 26 us with a warm worker; a parked worker's ~10-15 us wake-up makes
// anything smaller slower than one thread).
constexpr double kGemmThreshold = 128.0 * 128 * 128;

// f(chunk) for chunk in [0, nchunks): inline when 1 chunk, else on the pool.
template <class F>
void run_chunks(long nchunks, F& f) {
    if (nchunks <= 1) {
        f(0);
        return;
    }
    if (!pool().parallel_for(nchunks, f)) throw std::bad_alloc();
}

// Chunk count for `items` items of `work` total cost: 1 below the threshold,
// else up to 4 per thread (dynamic balance) but never below min_items each.
long chunks_for(double work, double threshold, long items, long min_items) {
    int nt = pool_threads();
    if (nt <= 1 || work < threshold) return 1;
    long by_size = items / min_items;
    if (by_size < 2) return 1;
    return std::min<long>(by_size, 4L * nt);
}

// [lo, hi) of chunk t of n items split in nt chunks aligned to `align`
inline void split(long n, long t, long nt, long align, long& lo, long& hi) {
    long units = (n + align - 1) / align;
    lo = std::min(n, units * t / nt * align);
    hi = std::min(n, units * (t + 1) / nt * align);
}

template <class T>
const KernelSet<T>& ks() {
    if constexpr (sizeof(T) == 4) return g_k->f32;
    else return g_k->f64;
}

// ------------------------------------------------------------------ GEMM
template <class T>
py::array gemm_t(const py::array& a, const py::array& b, bool ta, bool tb, const void* bias, int act) {
    const long M = ta ? a.shape(1) : a.shape(0), Ka = ta ? a.shape(0) : a.shape(1);
    const long Kb = tb ? b.shape(1) : b.shape(0), N = tb ? b.shape(0) : b.shape(1);
    (void)Kb;
    py::array_t<T> c({M, N});
    GemmProblem<T> p{static_cast<const T*>(a.data()), static_cast<const T*>(b.data()), c.mutable_data(),
                     static_cast<const T*>(bias), M, N, Ka, a.shape(1), b.shape(1), N, ta, tb, act};
    if (M == 0 || N == 0) return std::move(c);
    const KernelSet<T>& k = ks<T>();
    {
        py::gil_scoped_release nogil;
        // Split the wider of N / M; each chunk packs its own slice of B and
        // re-packs A (1/chunk_width of the compute: < 0.5% at >= 256 columns).
        // GEMV-like calls (<= 3 rows) are memory-bound: each B element costs about
        // as much time as 4 multiply-adds of a compute-bound GEMM (~30 vs ~100 GFLOP/s).
        const double work = double(std::max<long>(M, M <= 3 ? 4 : 1)) * N * (Ka ? Ka : 1);
        long nunits = (N + k.nr - 1) / k.nr, munits = (M + k.mr - 1) / k.mr;
        bool split_n = nunits >= munits || N >= 4L * k.nr * pool_threads();
        long extent = split_n ? N : M, align = split_n ? k.nr : k.mr;
        long units = split_n ? nunits : munits;
        long nchunks = chunks_for(work, kGemmThreshold, extent, extent >= 2048 ? 512 : 256);
        // GEMV-like calls (<= 3 rows) stream B: one contiguous column range per
        // thread keeps each thread's reads of a B row long and sequential.
        if (M <= 3 && nchunks > 1) nchunks = std::min<long>(pool_threads(), nchunks);
        if (nchunks == 1 && work >= kGemmThreshold && units >= 2 && pool_threads() > 1) nchunks = 2;
        nchunks = std::min(nchunks, units);
        auto task = [&](long ch) {
            long lo, hi;
            split(extent, ch, nchunks, align, lo, hi);
            if (hi <= lo) return;
            if (split_n) k.gemm(p, 0, M, lo, hi);
            else k.gemm(p, lo, hi, 0, N);
        };
        run_chunks(nchunks, task);
    }
    return std::move(c);
}

py::array gemm(const py::array& a, const py::array& b, bool ta, bool tb, const py::object& bias, int act) {
    const char* fn = "gemm";
    DT da = check(a, fn, "a"), db = check(b, fn, "b");
    same_dtype(da, db, fn, "a", "b");
    if (a.ndim() != 2) value_err(std::string("gemm: a must be 2-D, got shape ") + shape_str(a));
    if (b.ndim() != 2) value_err(std::string("gemm: b must be 2-D, got shape ") + shape_str(b));
    const long Ka = ta ? a.shape(0) : a.shape(1), Kb = tb ? b.shape(1) : b.shape(0);
    const long N = tb ? b.shape(0) : b.shape(1);
    if (Ka != Kb)
        value_err("gemm: inner dimensions differ: op(a) has " + std::to_string(Ka) + " columns, op(b) has " +
                  std::to_string(Kb) + " rows (a " + shape_str(a) + (ta ? " transposed" : "") + ", b " +
                  shape_str(b) + (tb ? " transposed" : "") + ")");
    if (act < 0 || act > 2) value_err("gemm: activation must be 0 (none), 1 (relu) or 2 (gelu), got " + std::to_string(act));
    const void* bp = optional_vec(bias, da, N, fn, "bias");
    return da == F32 ? gemm_t<float>(a, b, ta, tb, bp, act) : gemm_t<double>(a, b, ta, tb, bp, act);
}

// ------------------------------------------------------------------ element-wise
template <class T, class K>
void ew_run(long n, K kern, long threshold = kEwThreshold) {
    long nchunks = chunks_for(double(n), double(threshold), n, 8192);
    auto task = [&](long ch) {
        long lo, hi;
        split(n, ch, nchunks, 64, lo, hi);
        if (hi > lo) kern(lo, hi - lo);
    };
    run_chunks(nchunks, task);
}

template <int OP>
py::array unary(const py::array& x) {
    static const char* names[] = {"relu", "gelu"};
    DT dt = check(x, names[OP], "x");
    auto go = [&](auto tag) -> py::array {
        using T = decltype(tag);
        auto y = new_like<T>(x);
        const T* xp = static_cast<const T*>(x.data());
        T* yp = y.mutable_data();
        long n = long(x.size());
        auto f = OP == 0 ? ks<T>().relu : ks<T>().gelu;
        {
            py::gil_scoped_release nogil;
            ew_run<T>(n, [&](long o, long c) { f(xp + o, yp + o, c); }, OP == 0 ? kEwThreshold : kEwHeavyThreshold);
        }
        return std::move(y);
    };
    return dt == F32 ? go(float{}) : go(double{});
}

void same_shape(const py::array& a, const py::array& b, const char* fn, const char* na, const char* nb) {
    bool same = a.ndim() == b.ndim();
    for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
    if (!same)
        value_err(std::string(fn) + ": " + na + " and " + nb + " must have the same shape, got " + shape_str(a) +
                  " and " + shape_str(b));
}

template <int OP>
py::array binary(const py::array& a, const py::array& b) {
    static const char* names[] = {"add", "mul", "relu_backward", "gelu_backward"};
    static const char* an[] = {"a", "a", "grad", "grad"};
    static const char* bn[] = {"b", "b", "x", "x"};
    const char* fn = names[OP];
    DT da = check(a, fn, an[OP]), db = check(b, fn, bn[OP]);
    same_dtype(da, db, fn, an[OP], bn[OP]);
    same_shape(a, b, fn, an[OP], bn[OP]);
    auto go = [&](auto tag) -> py::array {
        using T = decltype(tag);
        auto y = new_like<T>(a);
        const T* ap = static_cast<const T*>(a.data());
        const T* bp = static_cast<const T*>(b.data());
        T* yp = y.mutable_data();
        long n = long(a.size());
        const KernelSet<T>& k = ks<T>();
        auto f = OP == 0 ? k.add : OP == 1 ? k.mul : OP == 2 ? k.relu_bw : k.gelu_bw;
        {
            py::gil_scoped_release nogil;
            ew_run<T>(n, [&](long o, long c) { f(ap + o, bp + o, yp + o, c); }, OP == 3 ? kEwHeavyThreshold : kEwThreshold);
        }
        return std::move(y);
    };
    return da == F32 ? go(float{}) : go(double{});
}

// rows x n row-wise ops: split rows over threads when big enough
template <class F>
void rows_run(long rows, long n, F f, long threshold = kEwThreshold) {
    long min_rows = std::max<long>(1, 8192 / std::max<long>(n, 1));
    long nchunks = chunks_for(double(rows) * double(n), double(threshold), rows, min_rows);
    auto task = [&](long ch) {
        long lo, hi;
        split(rows, ch, nchunks, 1, lo, hi);
        if (hi > lo) f(lo, hi - lo);
    };
    run_chunks(nchunks, task);
}

void need_ndim1(const py::array& x, const char* fn) {
    if (x.ndim() < 1) value_err(std::string(fn) + ": x must have at least 1 dimension, got a 0-d array");
}

// A row-wise op over the last axis: a new array like x, rows split over the pool, the GIL released.
// op(in, out, nrows) processes nrows consecutive rows of n elements.
template <class T, class RowOp>
py::array map_rows(const py::array& x, long n, long threshold, RowOp op) {
    auto y = new_like<T>(x);
    const T* xp = static_cast<const T*>(x.data());
    T* yp = y.mutable_data();
    long rows = n ? long(x.size()) / n : 0;
    {
        py::gil_scoped_release nogil;
        rows_run(rows, n, [&](long r0, long nr) { op(xp + r0 * n, yp + r0 * n, nr); }, threshold);
    }
    return std::move(y);
}

py::array add_bias(const py::array& x, const py::array& b) {
    const char* fn = "add_bias";
    DT dt = check(x, fn, "x");
    need_ndim1(x, fn);
    long n = x.shape(x.ndim() - 1);
    const void* bp = optional_vec(b, dt, n, fn, "b");
    if (!bp) type_err("add_bias: b must be a numpy array");
    auto go = [&](auto tag) -> py::array {
        using T = decltype(tag);
        auto f = ks<T>().add_bias;
        const T* bb = static_cast<const T*>(bp);
        return map_rows<T>(x, n, kEwThreshold, [&](const T* in, T* out, long nr) { f(in, bb, out, nr, n); });
    };
    return dt == F32 ? go(float{}) : go(double{});
}

py::array softmax(const py::array& x) {
    const char* fn = "softmax";
    DT dt = check(x, fn, "x");
    need_ndim1(x, fn);
    long n = x.shape(x.ndim() - 1);
    auto go = [&](auto tag) -> py::array {
        using T = decltype(tag);
        auto f = ks<T>().softmax;
        return map_rows<T>(x, n, kEwHeavyThreshold, [&](const T* in, T* out, long nr) { f(in, out, nr, n); });
    };
    return dt == F32 ? go(float{}) : go(double{});
}

py::array layer_norm(const py::array& x, const py::object& weight, const py::object& bias, double eps) {
    const char* fn = "layer_norm";
    DT dt = check(x, fn, "x");
    need_ndim1(x, fn);
    if (!(eps >= 0.0)) value_err("layer_norm: eps must be >= 0, got " + std::to_string(eps));
    long n = x.shape(x.ndim() - 1);
    const void* wp = optional_vec(weight, dt, n, fn, "weight");
    const void* bp = optional_vec(bias, dt, n, fn, "bias");
    auto go = [&](auto tag) -> py::array {
        using T = decltype(tag);
        auto f = ks<T>().layer_norm;
        const T* w = static_cast<const T*>(wp);
        const T* b = static_cast<const T*>(bp);
        return map_rows<T>(x, n, kEwHeavyThreshold,
                           [&](const T* in, T* out, long nr) { f(in, w, b, eps, out, nr, n); });
    };
    return dt == F32 ? go(float{}) : go(double{});
}

py::array sum_rows(const py::array& x) {
    const char* fn = "sum_rows";
    DT dt = check(x, fn, "x");
    need_ndim1(x, fn);
    long n = x.shape(x.ndim() - 1);
    auto go = [&](auto tag) -> py::array {
        using T = decltype(tag);
        py::array_t<T> y({n});
        const T* xp = static_cast<const T*>(x.data());
        T* yp = y.mutable_data();
        long rows = n ? long(x.size()) / n : 0;
        auto f = ks<T>().sum_rows;
        {
            py::gil_scoped_release nogil;
            // split columns, only into slabs of >= 256 columns
            long nchunks = chunks_for(double(rows) * double(n), double(kEwThreshold), n, 256);
            auto task = [&](long ch) {
                long lo, hi;
                split(n, ch, nchunks, 64, lo, hi);
                if (hi > lo) f(xp + lo, rows, hi - lo, n, yp + lo);
            };
            run_chunks(nchunks, task);
        }
        return std::move(y);
    };
    return dt == F32 ? go(float{}) : go(double{});
}

void set_num_threads(int n) {
    if (n < 1) value_err("set_num_threads: n must be >= 1, got " + std::to_string(n));
    if (n > 1024) value_err("set_num_threads: n must be <= 1024, got " + std::to_string(n));
    set_pool_threads(n);
}

// Round trip of a job of nt chunks of ~1 us each on the pool, median over reps, in ns
// (1000 ns = perfect overlap; 1000*nt = no help from the workers).
double pool_dispatch_ns(int reps) {
    py::gil_scoped_release nogil;
    int nt = pool_threads();
    std::vector<double> t;
    t.reserve(reps);
    // one chunk per thread that spins ~1 us, so the workers really take part
    auto work = [](long) {
        auto t0 = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(1)) {
        }
    };
    for (int r = 0; r < reps; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        if (nt > 1) pool().parallel_for(nt, work);
        else work(0);
        auto t1 = std::chrono::steady_clock::now();
        t.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t.empty() ? 0.0 : t[t.size() / 2];
}

// fp32 FMA ceiling of this machine at `threads` threads: each thread runs the
// register-resident FMA loop of the active ISA for ~`seconds` of its own CPU
// time; the rate is flops per thread-CPU-second, summed over threads, so other
// jobs sharing the cores (time slicing) do not lower the figure.  GFLOP/s.
double thread_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double fma_peak(double seconds, int threads) {
    if (!(seconds > 0) || seconds > 60) value_err("fma_peak: seconds must be in (0, 60]");
    if (threads < 1 || threads > 1024) value_err("fma_peak: threads must be in [1, 1024]");
    py::gil_scoped_release nogil;
    auto fn = g_k->fma_loop_f32;
    std::vector<double> rate(threads, 0.0);
    auto body = [&](int t) {
        fn(20000);  // warm up (clock ramp-up)
        double c0 = thread_cpu_seconds(), f = 0, el = 0;
        do {
            f += fn(20000);
            el = thread_cpu_seconds() - c0;
        } while (el < seconds);
        rate[t] = f / el;
    };
    std::vector<std::thread> ts;
    for (int t = 1; t < threads; ++t) ts.emplace_back(body, t);
    body(0);
    for (auto& th : ts) th.join();
    double g = 0;
    for (double r : rate) g += r;
    return g / 1e9;
}

py::dict info() {
    py::dict d;
    d["isa"] = g_k->name;
    d["threads"] = pool_threads();
    d["cpus_available"] = cpus_available();
#if defined(__clang__)
    d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    d["compiler"] = std::string("gcc ") + __VERSION__;
#else
    d["compiler"] = "unknown";
#endif
    d["build_type"] = HALKIT_BUILD_TYPE;
    d["threading"] = "thread-pool";
    d["gemm_tile_f32"] = py::make_tuple(g_k->f32.mr, g_k->f32.nr);
    d["gemm_tile_f64"] = py::make_tuple(g_k->f64.mr, g_k->f64.nr);
    d["cpu_avx2"] = cpu_has_avx2();
    d["cpu_avx512"] = cpu_has_avx512();
#ifdef HALKIT_SANITIZE_BUILD
    d["sanitize"] = true;
#else
    d["sanitize"] = false;
#endif
    if (!g_isa_note.empty()) d["isa_note"] = g_isa_note;
    if (!g_threads_note.empty()) d["threads_note"] = g_threads_note;
    return d;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "halkit native CPU kernels (packed GEMM with fused epilogue, element-wise ops), GIL released";
    choose_isa();
    choose_threads();
    if (!g_isa_note.empty()) PyErr_WarnEx(PyExc_RuntimeWarning, g_isa_note.c_str(), 1);
    if (!g_threads_note.empty()) PyErr_WarnEx(PyExc_RuntimeWarning, g_threads_note.c_str(), 1);

    m.def("gemm", &gemm, py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("trans_a") = false,
          py::arg("trans_b") = false, py::arg("bias") = py::none(), py::arg("activation") = 0,
          "act(op(a) @ op(b) + bias) as a new C-contiguous array; activation 0 none, 1 relu, 2 gelu (erf)");
    m.def("relu", &unary<0>, py::arg("x").noconvert(), "max(x, 0), NaN propagates");
    m.def("gelu", &unary<1>, py::arg("x").noconvert(), "exact (erf) GELU");
    m.def("add", &binary<0>, py::arg("a").noconvert(), py::arg("b").noconvert());
    m.def("mul", &binary<1>, py::arg("a").noconvert(), py::arg("b").noconvert());
    m.def("relu_backward", &binary<2>, py::arg("grad").noconvert(), py::arg("x").noconvert(), "0 where x <= 0, else grad (torch threshold_backward)");
    m.def("gelu_backward", &binary<3>, py::arg("grad").noconvert(), py::arg("x").noconvert(),
          "grad * gelu'(x) (exact erf form)");
    m.def("add_bias", &add_bias, py::arg("x").noconvert(), py::arg("b").noconvert(), "x + b over the last axis");
    m.def("sum_rows", &sum_rows, py::arg("x").noconvert(), "sum over all leading axes -> 1-D of len x.shape[-1]");
    m.def("softmax", &softmax, py::arg("x").noconvert(), "numerically stable softmax over the last axis");
    m.def("layer_norm", &layer_norm, py::arg("x").noconvert(), py::arg("weight") = py::none(),
          py::arg("bias") = py::none(), py::arg("eps") = 1e-5, "layer norm over the last axis (biased variance)");
    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("get_num_threads", &pool_threads);
    m.def("info", &info);
    m.def("fma_peak", &fma_peak, py::arg("seconds") = 0.2, py::arg("threads") = 1,
          "fp32 FMA ceiling in GFLOP/s: register-resident FMA loop on `threads` threads for ~`seconds` "
          "of each thread's CPU time (flops per CPU-second: not lowered by other jobs time-sharing the cores)");
    m.def("_pool_dispatch_ns", &pool_dispatch_ns, py::arg("reps") = 1000,
          "median ns of an empty job dispatched to all pool threads (diagnostics)");
}
