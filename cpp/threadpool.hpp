// A small persistent thread pool for the native kernels.
//
// Why not OpenMP: torch ships its own libgomp; a second OpenMP runtime in the
// same process oversubscribes the cores (two teams of spinning workers) or
// crashes at fork.  This pool owns (n-1) std::thread workers that spin briefly
// after each job (so back-to-back calls never pay a futex wake-up) and then
// park on a condition variable.
//
// Jobs are "parallel for over chunks" with dynamic scheduling: the calling
// thread starts taking chunks at once, and workers join while chunks are left.
// When the caller has run out of chunks it closes the job: a worker that has
// not joined by then (descheduled on a busy machine, still waking up) is not
// waited for.  So a call never runs slower than the caller alone by more than
// the chunks already in flight on other threads.
//
// Concurrency: one job at a time.  A second caller (another Python thread: the
// GIL is released while kernels run) that finds the pool busy runs its chunks
// inline instead of waiting -- correct, never deadlocks.
// Fork: the child gets fresh pools on first use (pthread_atfork).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace halkit {

class ThreadPool {
public:
    using ChunkFn = void (*)(void* ctx, long chunk);

    explicit ThreadPool(int nthreads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return nthreads_; }
    // Runs fn(ctx, c) for every c in [0, nchunks) on the caller and whichever
    // workers join in time; returns when all chunks are done.  Returns false
    // if a chunk threw (every other chunk still ran).
    bool run(long nchunks, ChunkFn fn, void* ctx);

    template <class F>
    bool parallel_for(long nchunks, F& f) {
        return run(nchunks, [](void* c, long ch) { (*static_cast<F*>(c))(ch); }, &f);
    }

private:
    void worker();
    void drain();
    void stop_workers();
    static bool call(ChunkFn fn, void* ctx, long c);

    int nthreads_;
    std::vector<std::thread> workers_;
    std::mutex dispatch_;  // one job at a time
    std::mutex m_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> sleepers_{0};
    std::atomic<bool> stop_{false};
    // current job
    std::atomic<ChunkFn> fn_{nullptr};
    std::atomic<void*> ctx_{nullptr};
    std::atomic<long> nchunks_{0};
    std::atomic<long> next_{0};
    std::atomic<uint64_t> state_{0};  // (free worker slots << 32) | workers inside the job
    std::atomic<bool> failed_{false};
};

// Process-wide pool for the current thread count (one pool per count, kept).
// pool() never fails: if the pool for the count cannot be started (after a
// fork, say, at a thread limit) it hands out the one-thread pool (inline).
ThreadPool& pool();
// Starts the pool for n threads, then makes n current; false (nothing changed)
// if n is out of [1, kMaxPools] or its threads cannot be started.
bool set_pool_threads(int n);
int pool_threads();

}  // namespace halkit
