#include "threadpool.hpp"

#include <pthread.h>

#include <chrono>
#include <new>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HK_PAUSE() _mm_pause()
#else
#define HK_PAUSE() std::this_thread::yield()
#endif

namespace halkit {

namespace {
// How long a worker spins for the next job before parking (and how long the
// caller spins for stragglers before yielding).  Short: the machine is shared.
constexpr auto kSpin = std::chrono::microseconds(50);
}  // namespace

ThreadPool::ThreadPool(int nthreads) : nthreads_(nthreads < 1 ? 1 : nthreads) {
    workers_.reserve(nthreads_ - 1);
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(m_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
}

bool ThreadPool::call(TaskFn fn, void* ctx, int t, int n) {
    try {
        fn(ctx, t, n);
        return true;
    } catch (...) {
        return false;
    }
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = generation_.load(std::memory_order_acquire);
        if (g == seen) {
            auto t0 = std::chrono::steady_clock::now();
            int spins = 0;
            while ((g = generation_.load(std::memory_order_acquire)) == seen) {
                HK_PAUSE();
                if (++spins % 64 == 0 && std::chrono::steady_clock::now() - t0 > kSpin) break;
            }
            if (g == seen) {
                std::unique_lock<std::mutex> lk(m_);
                sleepers_.fetch_add(1, std::memory_order_relaxed);
                cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
                sleepers_.fetch_sub(1, std::memory_order_relaxed);
                g = generation_.load(std::memory_order_acquire);
            }
        }
        seen = g;
        bool stop;
        TaskFn fn;
        void* ctx;
        int n;
        {
            // fields were written before the generation bump (release); read after acquire
            stop = stop_;
            fn = fn_;
            ctx = ctx_;
            n = ntasks_;
        }
        if (stop) return;
        if (index < n) {
            if (!call(fn, ctx, index, n)) failed_.store(true, std::memory_order_relaxed);
            remaining_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }
}

bool ThreadPool::run(int ntasks, TaskFn fn, void* ctx) {
    if (ntasks <= 0) return true;
    if (ntasks == 1 || nthreads_ == 1 || !dispatch_.try_lock()) {
        // serial (or the pool is busy with another caller's job): run inline
        bool ok = true;
        for (int t = 0; t < ntasks; ++t) ok &= call(fn, ctx, t, ntasks);
        return ok;
    }
    if (ntasks > nthreads_) ntasks = nthreads_;  // callers size ntasks from size()
    failed_.store(false, std::memory_order_relaxed);
    fn_ = fn;
    ctx_ = ctx;
    ntasks_ = ntasks;
    remaining_.store(ntasks - 1, std::memory_order_relaxed);
    bool wake;
    {
        std::lock_guard<std::mutex> lk(m_);
        generation_.fetch_add(1, std::memory_order_release);
        wake = sleepers_.load(std::memory_order_relaxed) > 0;
    }
    if (wake) cv_.notify_all();
    bool ok = call(fn, ctx, 0, ntasks);
    auto t0 = std::chrono::steady_clock::now();
    int spins = 0;
    while (remaining_.load(std::memory_order_acquire) != 0) {
        HK_PAUSE();
        if (++spins % 64 == 0 && std::chrono::steady_clock::now() - t0 > kSpin) std::this_thread::yield();
    }
    ok &= !failed_.load(std::memory_order_relaxed);
    dispatch_.unlock();
    return ok;
}

// ------------------------------------------------------------ process-wide pool
// One pool per thread count ever requested, created lazily and never destroyed:
// switching set_num_threads back and forth reuses parked pools, and a kernel
// still running on another Python thread can never see its pool freed.
namespace {
constexpr int kMaxPools = 1024;
std::mutex g_pool_mutex;
ThreadPool* g_pools[kMaxPools + 1] = {};
int g_threads = 1;
bool g_atfork = false;

void after_fork_child() {
    // The parent's workers do not exist in the child: forget (leak) its pools.
    new (&g_pool_mutex) std::mutex();
    for (auto& p : g_pools) p = nullptr;
}
}  // namespace

ThreadPool& pool() {
    int n = __atomic_load_n(&g_threads, __ATOMIC_ACQUIRE);
    ThreadPool* p = __atomic_load_n(&g_pools[n], __ATOMIC_ACQUIRE);
    if (p) return *p;
    std::lock_guard<std::mutex> lk(g_pool_mutex);
    if (!g_atfork) {
        pthread_atfork(nullptr, nullptr, after_fork_child);
        g_atfork = true;
    }
    if (!g_pools[n]) __atomic_store_n(&g_pools[n], new ThreadPool(n), __ATOMIC_RELEASE);
    return *g_pools[n];
}

void set_pool_threads(int n) {
    if (n < 1) n = 1;
    if (n > kMaxPools) n = kMaxPools;
    __atomic_store_n(&g_threads, n, __ATOMIC_RELEASE);
}

int pool_threads() { return __atomic_load_n(&g_threads, __ATOMIC_ACQUIRE); }

}  // namespace halkit
