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
// Element-wise ops of KernelSet::unary / ::binary (the numpy reference's semantics).
enum UnaryOp : int { UN_RELU, UN_GELU, UN_TANH, UN_SIGMOID, UN_SILU, UN_HARDSWISH, UN_SQRT, UN_EXP };
enum BinaryOp : int {
    BIN_ADD, BIN_MUL, BIN_DIV,
    // backward passes: (grad, x) or, for tanh and sigmoid, (grad, y = the forward output)
    BIN_RELU_BW, BIN_GELU_BW, BIN_TANH_BW, BIN_SIGMOID_BW, BIN_SILU_BW, BIN_HARDSWISH_BW
};

// A bfloat16 value as stored (the upper 16 bits of a float32); arithmetic happens in float32.
struct bf16 {
    unsigned short bits;
};

template <class T>
struct GemmProblem {
    const T* a;      // (M,K) row-major, or (K,M) if ta
    const T* b;      // (K,N) row-major, or (N,K) if tb
    T* c;            // (M,N) row-major with row stride ldc
    const T* bias;   // nullptr, length N, or length M when bias_rows
    long M, N, K;
    long lda, ldb, ldc;
    bool ta, tb;
    int act;
    bool bias_rows = false;   // bias[i] added to row i (a convolution's per-channel bias)
    bool accumulate = false;  // C += result instead of C = result (bias/act then apply to the sum)
};

// A 2-D convolution: x (N, C, H, W), w (O, C/groups, kh, kw), y (N, O, OH, OW).
struct ConvGeom {
    long N, C, H, W;
    long O, kh, kw;
    long OH, OW;
    long sh, sw, ph, pw, dh, dw, groups;
    bool x_nhwc;  // x is channels-last dense (NHWC memory, NCHW shape); y and gradients are NCHW
};

// A 2-D pooling window sweep over NCHW planes (torch's geometry).
struct PoolGeom {
    long N, C, H, W, OH, OW;
    long kh, kw, sh, sw, ph, pw, dh, dw;
    bool count_include_pad;  // average pooling: padding counts in the divisor
};

// The thread pool as the kernels see it (module.cpp provides it): run(n, fn, arg)
// calls fn(arg, i) for every i in [0, n) on up to `threads` threads, returns when
// all are done, and throws std::bad_alloc if one of them threw.
struct Parallel {
    int threads;
    void (*run)(long n, void (*fn)(void*, long), void* arg);
};

template <class T>
struct KernelSet {
    // The whole problem; splits itself over `par` when it is big enough.
    void (*gemm)(const GemmProblem<T>&, const Parallel& par);
    // Element-wise over n elements (serial: callers split long arrays).
    void (*unary)(int op, const T* x, T* y, long n);
    void (*binary)(int op, const T* a, const T* b, T* y, long n);
    void (*scale)(const T* x, T alpha, T beta, T* y, long n);   // alpha x + beta
    void (*axpy)(const T* a, const T* b, T alpha, T* y, long n);  // a + alpha b
    // Row-wise over `rows` consecutive rows of n elements.
    void (*add_bias)(const T* x, const T* b, T* y, long rows, long n);
    void (*softmax)(const T* x, T* y, long rows, long n);
    void (*softmax_bw)(const T* g, const T* y, T* out, long rows, long n);
    void (*layer_norm)(const T* x, const T* w, const T* b, double eps, T* y, long rows, long n);
    // gx for the rows; gw/gb accumulate (+=, in double) the rows' weight and bias gradients
    void (*layer_norm_bw)(const T* g, const T* x, const T* w, double eps, T* gx, double* gw, double* gb, long rows,
                          long n);
    // out[0:ncols] = sum over rows of x[r*ld + 0:ncols]
    void (*sum_rows)(const T* x, long rows, long ncols, long ld, T* out);
    // Convolution (cross-correlation, torch's) and its gradients; outputs are NCHW / OIHW.
    void (*conv2d)(const ConvGeom&, const T* x, const T* w, const T* bias, T* y, const Parallel&);
    void (*conv2d_input_grad)(const ConvGeom&, const T* grad, const T* w, T* dx, const Parallel&);
    void (*conv2d_weight_grad)(const ConvGeom&, const T* grad, const T* x, T* dw, const Parallel&);
    // Batch norm over the channels of x (N, C, S): normalise with given stats, the stats, the backward pass.
    void (*batch_norm)(const T* x, long N, long C, long S, const T* mean, const T* var, const T* w, const T* b,
                       double eps, T* y, const Parallel&);
    void (*batch_norm_stats)(const T* x, long N, long C, long S, T* mean, T* var, const Parallel&);
    void (*batch_norm_bw)(const T* g, const T* x, long N, long C, long S, const T* mean, const T* var, const T* w,
                          double eps, T* gx, T* gw, T* gb, const Parallel&);
    // out[o, j] = sum over m of x[o, m, j] (x viewed as outer x mid x inner), for j in [j0, j1), in double
    void (*reduce_mid)(const T* x, long outer, long mid, long inner, long j0, long j1, double* out);
    void (*reduce_mid_d)(const double* x, long outer, long mid, long inner, long j0, long j1, double* out);
    // Pooling over NCHW planes and the backward passes (dx is written whole).
    void (*max_pool2d)(const PoolGeom&, const T* x, T* y, const Parallel&);
    void (*max_pool2d_bw)(const PoolGeom&, const T* grad, const T* x, T* dx, const Parallel&);
    void (*avg_pool2d)(const PoolGeom&, const T* x, T* y, const Parallel&);
    void (*avg_pool2d_bw)(const PoolGeom&, const T* grad, T* dx, const Parallel&);
    void (*adaptive_avg_pool2d)(long planes, long H, long W, long OH, long OW, const T* x, T* y, const Parallel&);
    void (*adaptive_avg_pool2d_bw)(long planes, long H, long W, long OH, long OW, const T* grad, T* dx,
                                   const Parallel&);
    int mr, nr;  // micro-tile of the packed GEMM
};

struct Kernels {
    const char* name;
    KernelSet<float> f32;
    KernelSet<double> f64;
    // bfloat16 GEMM, bias per column, C overwritten (bias_rows / accumulate too, on the
    // widened route): operands widened to float32 for this ISA's float32 GEMM.
    void (*gemm_bf16)(const GemmProblem<bf16>&, const Parallel& par);
    // bfloat16 <-> float32 over n elements: widening (exact), rounding to nearest even (NaN kept)
    void (*bf16_to_f32)(const bf16* src, float* dst, long n);
    void (*f32_to_bf16)(const float* src, bf16* dst, long n);
    // fp32 FMA ceiling probe: `iters` rounds of 16 independent vector FMAs held in
    // registers; returns the flops executed (2 per lane per FMA).
    double (*fma_loop_f32)(long iters);
};

extern const Kernels kernels_portable;
extern const Kernels kernels_avx2;
extern const Kernels kernels_avx512;
// The bf16 GEMM on AVX512_BF16 dot products (kernels_avx512bf16.cpp): call only
// when the CPU has AVX-512 and AVX512_BF16.  Absent (nullptr) when the compiler
// cannot target it.
extern void (*const gemm_bf16_dot)(const GemmProblem<bf16>&, const Parallel& par);
// bf16 dot-product ceiling probe (same file, same conditions): `iters` rounds of 24
// independent vdpbf16ps held in registers; returns the flops executed (64 per instruction).
extern double (*const dpbf16_loop)(long iters);

}  // namespace halkit
