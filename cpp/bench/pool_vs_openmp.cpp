// Dispatch latency of the halkit thread pool vs an OpenMP parallel region.
// Not part of the module; build and run by hand:
//   g++ -O2 -std=c++17 -fopenmp -pthread -Icpp cpp/bench/pool_vs_openmp.cpp cpp/threadpool.cpp -o /tmp/pool_vs_omp
//   /tmp/pool_vs_omp 2
// Reports the median round trip (ns) of an empty 2-thread job, back-to-back and
// after 1 ms idle (workers parked), plus the CPU time each runtime burns while the
// caller is idle (spinning workers steal a core from torch / the other engineer's job).
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "threadpool.hpp"

using clk = std::chrono::steady_clock;

static double cpu_seconds() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

template <class F>
static double median_ns(F f, int reps, double idle_s) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        if (idle_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
        auto t0 = clk::now();
        f();
        t.push_back(std::chrono::duration<double, std::nano>(clk::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int main(int argc, char** argv) {
    int nt = argc > 1 ? std::atoi(argv[1]) : 2;
    omp_set_num_threads(nt);
    halkit::set_pool_threads(nt);
    auto& pool = halkit::pool();
    volatile int sink = 0;
    auto pool_job = [&] {
        auto f = [&](long c) { sink = int(c); };
        pool.parallel_for(nt, f);
    };
    auto omp_job = [&] {
#pragma omp parallel num_threads(nt)
        { sink = omp_get_thread_num(); }
    };
    pool_job();
    omp_job();
    std::printf("threads=%d\n", nt);
    std::printf("back-to-back  pool %8.0f ns   openmp %8.0f ns\n", median_ns(pool_job, 20000, 0),
                median_ns(omp_job, 20000, 0));
    std::printf("after 1ms idle pool %8.0f ns   openmp %8.0f ns\n", median_ns(pool_job, 300, 1e-3),
                median_ns(omp_job, 300, 1e-3));
    // CPU burnt by parked/spinning workers during 100 ms of caller idleness right after a job
    for (int which = 0; which < 2; ++which) {
        which == 0 ? pool_job() : omp_job();
        double c0 = cpu_seconds();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        double c1 = cpu_seconds();
        std::printf("%s: CPU burnt by idle workers in the 100 ms after a job: %.1f ms\n",
                    which == 0 ? "pool  " : "openmp", (c1 - c0) * 1e3);
    }
    return 0;
}
