// halkit native kernels: the ISA-independent interface.
//
// Each ISA translation unit (kernels_portable.cpp, kernels_avx2.cpp,
// kernels_avx512.cpp) includes kernels_impl.hpp inside its own namespace and
// exports one `Kernels` table; module.cpp picks a table at import time
// (CPU features + env HALKIT_NATIVE_ISA) and never calls code compiled for an
// ISA the CPU lacks.  Everything here is plain data + function pointers so no
// inline code is shared between translation units compiled with different flags.
#pragma once
#include <cstddef>

namespace halkit {

enum Activation : int { ACT_NONE = 0, ACT_RELU = 1, ACT_GELU = 2 };

template <class T>
struct GemmProblem {
    const T* a;      // (M,K) row-major, or (K,M) if ta
    const T* b;      // (K,N) row-major, or (N,K) if tb
    T* c;            // (M,N) row-major, ldc = N
    const T* bias;   // nullptr or length N
    long M, N, K;
    long lda, ldb, ldc;
    bool ta, tb;
    int act;
};

template <class T>
struct KernelSet {
    // C[m0:m1, n0:n1] of the problem, serial, on the calling thread.
    void (*gemm)(const GemmProblem<T>&, long m0, long m1, long n0, long n1);
    void (*relu)(const T* x, T* y, long n);
    void (*gelu)(const T* x, T* y, long n);
    void (*add)(const T* a, const T* b, T* y, long n);
    void (*mul)(const T* a, const T* b, T* y, long n);
    void (*relu_bw)(const T* g, const T* x, T* y, long n);
    void (*gelu_bw)(const T* g, const T* x, T* y, long n);
    void (*add_bias)(const T* x, const T* b, T* y, long rows, long n);
    void (*softmax)(const T* x, T* y, long rows, long n);
    void (*layer_norm)(const T* x, const T* w, const T* b, double eps, T* y, long rows, long n);
    // out[0:ncols] = sum over rows of x[r*ld + 0:ncols]
    void (*sum_rows)(const T* x, long rows, long ncols, long ld, T* out);
    int mr, nr;  // micro-tile of the packed GEMM
};

struct Kernels {
    const char* name;
    KernelSet<float> f32;
    KernelSet<double> f64;
    // fp32 FMA ceiling probe: `iters` rounds of 16 independent vector FMAs held in
    // registers; returns the flops executed (2 per lane per FMA).
    double (*fma_loop_f32)(long iters);
};

extern const Kernels kernels_portable;
extern const Kernels kernels_avx2;
extern const Kernels kernels_avx512;

}  // namespace halkit
