// halkit's host-kernel ABI: C entry points that a host-memory driver's kernels offer to other extension modules.
//
// A driver whose kernels are C functions over host memory may publish this table as a PyCapsule named
// HALKIT_HOST_KERNELS_CAPSULE (halkit.hal.Driver.host_kernels). halkit.torch.device._C calls it on tensor
// memory for the eager layers (cpp/torch_device/eager_linear.cpp): a batch-1 layer costs a few microseconds,
// and the Python route into the HAL (NumPy views, argument checks, results wrapped back) cost as much again.
// The semantics are those of the HAL ops named below; the numpy reference driver defines them.
//
// Plain C types only: the two modules are built separately (different C++ standards and flags). No function
// throws; each returns 0, or -1 when the driver could not allocate what it needed (e.g. a thread's task).
// Threads: the driver's current setting, as for its HAL ops. Arrays are row-major float32, non-overlapping.
#pragma once

#define HALKIT_HOST_KERNELS_CAPSULE "halkit.host_kernels.v1"

extern "C" {

struct HalkitHostKernels {
    // HAL gemm: c (m x n, row stride ldc) = act(op(a) @ op(b) + bias); op transposes when its flag is set
    // (a is m x k, or k x m when trans_a; b is k x n, or n x k when trans_b); bias has n elements or is
    // null; act is 0 (none), 1 (relu) or 2 (gelu). m, n, k >= 1.
    int (*gemm_f32)(const float* a, const float* b, const float* bias, float* c, long m, long n, long k, long lda,
                    long ldb, long ldc, int trans_a, int trans_b, int act);
    // HAL sum_rows: out[j] = sum over the rows of x[r * n + j], j < n (x is rows x n, dense). rows, n >= 1.
    int (*sum_rows_f32)(const float* x, long rows, long n, float* out);
    // HAL relu_backward: out[i] = grad[i] where x[i] > 0, else 0 (i < count).
    int (*relu_backward_f32)(const float* grad, const float* x, float* out, long count);
};

}  // extern "C"
