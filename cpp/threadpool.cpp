#include "threadpool.hpp"

#include <pthread.h>

#include <algorithm>
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
constexpr auto kSpin = std::chrono::microseconds(100);
}  // namespace

ThreadPool::ThreadPool(int nthreads) : nthreads_(nthreads < 1 ? 1 : nthreads) {
    try {
        workers_.reserve(nthreads_ - 1);
        for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this] { worker(); });
    } catch (...) {
        stop_workers();  // the destructor does not run for a half-built object
        throw;
    }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
    {
        std::lock_guard<std::mutex> lk(m_);
        stop_ = true;
        generation_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
}

bool ThreadPool::call(ChunkFn fn, void* ctx, long c) {
    try {
        fn(ctx, c);
        return true;
    } catch (...) {
        return false;
    }
}

void ThreadPool::drain() {
    ChunkFn fn = fn_.load();
    void* ctx = ctx_.load();
    const long n = nchunks_.load();
    for (long c; (c = next_.fetch_add(1)) < n;)
        if (!call(fn, ctx, c)) failed_.store(true);
}

void ThreadPool::worker() {
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
                sleepers_.fetch_add(1);
                cv_.wait(lk, [&] { return generation_.load() != seen; });
                sleepers_.fetch_sub(1);
                g = generation_.load();
            }
        }
        seen = g;
        if (stop_.load()) return;
        // Join if the job still has a free slot; joining and counting ourselves
        // in is one atomic step, so the caller waits exactly for those inside.
        uint64_t st = state_.load();
        bool joined = false;
        while ((st >> 32) != 0) {
            if (state_.compare_exchange_weak(st, st - (uint64_t(1) << 32) + 1)) {
                joined = true;
                break;
            }
        }
        if (!joined) continue;
        drain();
        state_.fetch_sub(1);
    }
}

bool ThreadPool::run(long nchunks, ChunkFn fn, void* ctx) {
    if (nchunks <= 0) return true;
    if (nchunks == 1 || nthreads_ == 1 || !dispatch_.try_lock()) {
        // serial (or the pool is busy with another caller's job): run inline
        bool ok = true;
        for (long c = 0; c < nchunks; ++c) ok &= call(fn, ctx, c);
        return ok;
    }
    failed_.store(false);
    fn_.store(fn);
    ctx_.store(ctx);
    nchunks_.store(nchunks);
    next_.store(0);
    const uint64_t slots = uint64_t(std::min<long>(nthreads_ - 1, nchunks - 1));
    state_.store(slots << 32);
    bool wake;
    {
        std::lock_guard<std::mutex> lk(m_);
        generation_.fetch_add(1, std::memory_order_release);
        wake = sleepers_.load() > 0;
    }
    if (wake) cv_.notify_all();
    drain();
    // Close the door: late workers no longer join; wait for those inside.
    uint64_t st = state_.load();
    while (!state_.compare_exchange_weak(st, st & 0xffffffffu)) {
    }
    auto t0 = std::chrono::steady_clock::now();
    int spins = 0;
    while ((state_.load(std::memory_order_acquire) & 0xffffffffu) != 0) {
        HK_PAUSE();
        if (++spins % 64 == 0 && std::chrono::steady_clock::now() - t0 > kSpin) std::this_thread::yield();
    }
    bool ok = !failed_.load();
    dispatch_.unlock();
    return ok;
}

// ------------------------------------------------------------ process-wide pool
// One pool per thread count ever requested, created lazily and never destroyed:
// switching set_num_threads back and forth reuses parked pools, and a kernel
// still running on another Python thread can never see its pool freed.
namespace {
constexpr int kMaxPools = 256;  // = halkit.hal.threads.MAX_THREADS
std::mutex g_pool_mutex;
ThreadPool* g_pools[kMaxPools + 1] = {};
int g_threads = 1;
bool g_atfork = false;

void after_fork_child() {
    // The parent's workers do not exist in the child: forget (leak) its pools.
    new (&g_pool_mutex) std::mutex();
    for (auto& p : g_pools) p = nullptr;
}


// The pool for n threads, started on first use; nullptr if it cannot be started.
ThreadPool* pool_for(int n) {
    ThreadPool* p = __atomic_load_n(&g_pools[n], __ATOMIC_ACQUIRE);
    if (p) return p;
    std::lock_guard<std::mutex> lk(g_pool_mutex);
    if (!g_atfork) {
        pthread_atfork(nullptr, nullptr, after_fork_child);
        g_atfork = true;
    }
    if (!g_pools[n]) {
        try {
            __atomic_store_n(&g_pools[n], new ThreadPool(n), __ATOMIC_RELEASE);
        } catch (...) {
            return nullptr;
        }
    }
    return g_pools[n];
}
}  // namespace

ThreadPool& pool() {
    ThreadPool* p = pool_for(__atomic_load_n(&g_threads, __ATOMIC_ACQUIRE));
    return p ? *p : *pool_for(1);  // a one-thread pool starts no thread: it cannot fail
}

bool set_pool_threads(int n) {
    if (n < 1 || n > kMaxPools || !pool_for(n)) return false;
    __atomic_store_n(&g_threads, n, __ATOMIC_RELEASE);
    return true;
}

int pool_threads() { return __atomic_load_n(&g_threads, __ATOMIC_ACQUIRE); }

}  // namespace halkit
