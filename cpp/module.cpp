// halkit._native: the module itself -- ISA choice, thread count, diagnostics
// (info, fma_peak) -- and the registration of the kernel bindings, which live
// in bind_*.cpp (one file per family of ops; shared checks in bind.hpp).
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

#include "bind.hpp"

namespace py = pybind11;
using namespace halkit;
using bind::value_err;

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

// The bf16 GEMM route: AVX512_BF16 dot products where the CPU has them (and the
// avx512 path is in use: a forced avx2/portable path means "no AVX-512 code"),
// else the ISA's widened route.  HALKIT_NATIVE_BF16=widened forces the latter.
bool cpu_has_avx512bf16() {
#if defined(__x86_64__) || defined(__i386__)
    return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}
std::atomic<bool> g_bf16_dot{false};
bool bf16_dot_runnable() { return gemm_bf16_dot != nullptr && cpu_has_avx512bf16(); }
void choose_bf16() {
    const char* env = std::getenv("HALKIT_NATIVE_BF16");
    const std::string want = env ? env : "";
    g_bf16_dot = want != "widened" && bf16_dot_runnable();
    if (!want.empty() && want != "widened" && want != "auto")
        g_isa_note += std::string(g_isa_note.empty() ? "" : "; ") + "HALKIT_NATIVE_BF16=" + want +
                      " is not one of widened|auto: using the default";
}
const char* bf16_route() {
    return g_bf16_dot && std::strcmp(g_k->name, "avx512") == 0 ? "avx512_bf16" : "widened";
}
// Tests switch the bf16 route in-process, like the ISA path.
std::string use_bf16(const std::string& name) {
    const std::string before = bf16_route();
    if (name == "avx512_bf16" && bf16_dot_runnable() && std::strcmp(g_k->name, "avx512") != 0)
        value_err(std::string("_use_bf16: the avx512_bf16 route runs on the avx512 ISA path, and the path in use is ") +
                  g_k->name + ": call _use_isa('avx512') first");
    if (name == "widened") g_bf16_dot = false;
    else if (name == "avx512_bf16" && bf16_dot_runnable()) g_bf16_dot = true;
    else value_err("_use_bf16: '" + name + "' is not a bf16 route this CPU can run (widened" +
                   (bf16_dot_runnable() ? ", avx512_bf16)" : ")"));
    return before;
}

// The ISA paths this CPU can run, best last.
std::vector<const Kernels*> runnable_isas() {
    std::vector<const Kernels*> v{&kernels_portable};
    if (cpu_has_avx2()) v.push_back(&kernels_avx2);
    if (cpu_has_avx512()) v.push_back(&kernels_avx512);
    return v;
}

// Tests switch the ISA path in-process (every kernel of every path is then
// checked in one run); the switch is refused for a path the CPU cannot run.
std::string use_isa(const std::string& name) {
    std::string names;
    for (const Kernels* k : runnable_isas()) {
        if (name == k->name) {
            const std::string before = g_k->name;
            __atomic_store_n(&g_k, k, __ATOMIC_RELEASE);
            return before;
        }
        names += std::string(names.empty() ? "" : ", ") + k->name;
    }
    value_err("_use_isa: '" + name + "' is not an ISA path this CPU can run (" + names + ")");
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

// The most threads the pool starts: halkit.hal.threads.MAX_THREADS says the same.
constexpr int kMaxThreads = 256;

std::string g_threads_note;
void choose_threads() {
    int n = cpus_available();
    if (const char* env = std::getenv("HALKIT_NUM_THREADS")) {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && v >= 1 && v <= kMaxThreads) n = int(v);
        else if (*env)
            g_threads_note = std::string("HALKIT_NUM_THREADS=") + env + " is not an int from 1 to " +
                             std::to_string(kMaxThreads) + ": ignored, using " + std::to_string(n) + " threads";
    }
    if (!set_pool_threads(n)) set_pool_threads(1);
}

// Validates before changing anything: on failure the thread count stays as it was.
void set_num_threads(const py::handle& o) {
    const bool is_int = PyLong_Check(o.ptr()) && !PyBool_Check(o.ptr());
    int overflow = 0;
    const long long n = is_int ? PyLong_AsLongLongAndOverflow(o.ptr(), &overflow) : 0;
    if (!is_int || overflow || n < 1 || n > kMaxThreads)
        value_err("set_num_threads: n must be an int from 1 to " + std::to_string(kMaxThreads) + " (this process may use " +
                  std::to_string(cpus_available()) + " cores), got " + std::string(py::repr(o)));
    if (!set_pool_threads(int(n)))
        throw std::runtime_error("set_num_threads: could not start " + std::to_string(n) +
                                 " threads (system limit?); the thread count stays " + std::to_string(pool_threads()));
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

// kind="bf16" runs the AVX512_BF16 dot-product loop instead: the ceiling of the
// avx512_bf16 GEMM route.  The widened route computes in fp32, so its ceiling is
// kind="fp32"; asking for bf16 there is an error that says why.
using LoopFn = double (*)(long);
LoopFn peak_loop(const std::string& kind) {
    if (kind == "fp32") return g_k->fma_loop_f32;
    if (kind != "bf16") value_err("fma_peak: kind must be 'fp32' or 'bf16', got '" + kind + "'");
    if (std::strcmp(bf16_route(), "avx512_bf16") == 0 && dpbf16_loop != nullptr) return dpbf16_loop;
    const char* why = dpbf16_loop == nullptr ? "the extension was built by a compiler that cannot target "
                                               "AVX512_BF16"
                      : !cpu_has_avx512bf16() ? "this CPU lacks AVX512_BF16 (or AVX-512)"
                                              : "the route was switched to widened (HALKIT_NATIVE_BF16, "
                                                "HALKIT_NATIVE_ISA or _use_bf16)";
    value_err(std::string("fma_peak: kind='bf16' needs the avx512_bf16 GEMM route, but info()['bf16_gemm'] is "
                          "'widened' because ") + why + "; the widened route computes in fp32: use kind='fp32'");
}

double fma_peak(double seconds, int threads, const std::string& kind) {
    if (!(seconds > 0) || seconds > 60) value_err("fma_peak: seconds must be in (0, 60]");
    if (threads < 1 || threads > 1024) value_err("fma_peak: threads must be in [1, 1024]");
    const LoopFn fn = peak_loop(kind);
    py::gil_scoped_release nogil;
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
    d["cpu_avx512_bf16"] = cpu_has_avx512bf16();
    d["bf16_gemm"] = bf16_route();
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

const Kernels& halkit::bind::kernels() { return *__atomic_load_n(&g_k, __ATOMIC_ACQUIRE); }
void halkit::bind::gemm_bf16(const GemmProblem<bf16>& p, const Parallel& par) {
    const bool dot = p.K > 0 && !p.bias_rows && !p.accumulate && std::strcmp(bf16_route(), "avx512_bf16") == 0;
    (dot ? gemm_bf16_dot : kernels().gemm_bf16)(p, par);
}

PYBIND11_MODULE(_native, m) {
    m.doc() = "halkit native CPU kernels (GEMM with fused epilogue, convolution, normalisation, pooling, "
              "element-wise and layout ops), multi-threaded, GIL released";
    choose_isa();
    choose_threads();
    choose_bf16();
    if (!g_isa_note.empty()) PyErr_WarnEx(PyExc_RuntimeWarning, g_isa_note.c_str(), 1);
    if (!g_threads_note.empty()) PyErr_WarnEx(PyExc_RuntimeWarning, g_threads_note.c_str(), 1);

    bind::register_gemm(m);
    bind::register_eltwise(m);
    bind::register_conv(m);
    bind::register_norm(m);
    bind::register_pool(m);
    bind::register_layout(m);
    bind::register_host_kernels(m);
    m.def("set_num_threads", &set_num_threads, py::arg("n"),
          "threads of the kernels' pool, an int from 1 to 256; on error nothing changes");
    m.def("get_num_threads", &pool_threads);
    m.def("info", &info);
    m.def("fma_peak", &fma_peak, py::arg("seconds") = 0.2, py::arg("threads") = 1, py::kw_only(),
          py::arg("kind") = "fp32",
          "fp32 FMA ceiling in GFLOP/s: register-resident FMA loop on `threads` threads for ~`seconds` "
          "of each thread's CPU time (flops per CPU-second: not lowered by other jobs time-sharing the cores); "
          "kind='bf16': the AVX512_BF16 dot-product (vdpbf16ps) ceiling, only on the avx512_bf16 GEMM route");
    m.def("_use_isa", &use_isa, py::arg("name"),
          "switch the kernels to ISA path `name` (portable, avx2, avx512); returns the previous one (tests)");
    m.def("_use_bf16", &use_bf16, py::arg("name"),
          "switch the bf16 GEMM route (widened, avx512_bf16); returns the previous one (tests)");
    m.def("_isas", []() {
        py::list l;
        for (const Kernels* k : runnable_isas()) l.append(k->name);
        return l;
    }, "the ISA paths this CPU can run");
    m.def("_pool_dispatch_ns", &pool_dispatch_ns, py::arg("reps") = 1000,
          "median ns of an empty job dispatched to all pool threads (diagnostics)");
}
