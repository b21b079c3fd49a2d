// A small persistent thread pool for the native kernels.
//
// Why not OpenMP: torch ships its own libgomp; a second OpenMP runtime in the
// same process oversubscribes the cores (two teams of spinning workers) or
// crashes at fork.  This pool owns (n-1) std::thread workers that spin briefly
// after each job (so back-to-back calls never pay a futex wake-up) and then
// park on a condition variable.  The calling thread runs task 0 itself.
//
// Concurrency: one job at a time.  A second caller (another Python thread:
// the GIL is released while kernels run) that finds the pool busy runs its
// tasks inline on its own thread instead of waiting -- correct, never deadlocks.
// Fork: the child gets a fresh pool on first use (pthread_atfork).
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
    using TaskFn = void (*)(void* ctx, int task, int ntasks);

    explicit ThreadPool(int nthreads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return nthreads_; }
    // Runs fn(ctx, t, ntasks) for t in [0, ntasks), ntasks <= size(); returns when all are done.
    // Returns false if a task threw (the others still ran to completion).
    bool run(int ntasks, TaskFn fn, void* ctx);

    template <class F>
    bool parallel(int ntasks, F& f) {
        return run(ntasks, [](void* c, int t, int n) { (*static_cast<F*>(c))(t, n); }, &f);
    }

private:
    void worker(int index);
    static bool call(TaskFn fn, void* ctx, int t, int n);

    int nthreads_;
    std::vector<std::thread> workers_;
    std::mutex dispatch_;  // one job at a time
    std::mutex m_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> remaining_{0};
    std::atomic<int> sleepers_{0};
    std::atomic<bool> failed_{false};
    bool stop_ = false;
    TaskFn fn_ = nullptr;
    void* ctx_ = nullptr;
    int ntasks_ = 0;
};

// Process-wide pool (recreated after fork or set_num_threads).
ThreadPool& pool();
void set_pool_threads(int n);
int pool_threads();

}  // namespace halkit
