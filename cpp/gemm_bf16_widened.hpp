// bfloat16 GEMM, widened route (every ISA): C = bf16(act(op(A) op(B) + bias)) with
// A, B, bias widened to float32 -- exactly (a bf16 is a float32 with 16 zero low
// bits) -- this ISA's float32 GEMM, and C rounded once.  Any CPU, any shape, every
// GemmProblem option.  The conversions are memory-bound, O(MK + KN + MN) against
// the GEMM's O(MNK).  Included by kernels_impl.hpp after gemm_impl.hpp.
void k_gemm_bf16_widened(const GemmProblem<bf16>& p, const Parallel& par) {
    if (p.M <= 0 || p.N <= 0) return;
    const long arows = p.ta ? p.K : p.M, acols = p.ta ? p.M : p.K;
    const long brows = p.tb ? p.N : p.K, bcols = p.tb ? p.K : p.N;
    PackBuf abuf, bbuf, cbuf, biasbuf;
    float* a = (float*)abuf.get(hmax<long>(arows * acols, 1) * sizeof(float));
    float* b = (float*)bbuf.get(hmax<long>(brows * bcols, 1) * sizeof(float));
    float* c = (float*)cbuf.get(p.M * p.N * sizeof(float));
    for (long r = 0; r < arows; ++r) bf16_to_f32_n(p.a + r * p.lda, a + r * acols, acols);
    for (long r = 0; r < brows; ++r) bf16_to_f32_n(p.b + r * p.ldb, b + r * bcols, bcols);
    float* bias = nullptr;
    if (p.bias) {
        const long nb = p.bias_rows ? p.M : p.N;
        bias = (float*)biasbuf.get(nb * sizeof(float));
        bf16_to_f32_n(p.bias, bias, nb);
    }
    if (p.accumulate)
        for (long r = 0; r < p.M; ++r) bf16_to_f32_n(p.c + r * p.ldc, c + r * p.N, p.N);
    GemmProblem<float> q{a, b, c, bias, p.M, p.N, p.K, acols, bcols, p.N, p.ta, p.tb, p.act};
    q.bias_rows = p.bias_rows;
    q.accumulate = p.accumulate;
    k_gemm<float>(q, par);
    for (long r = 0; r < p.M; ++r) f32_to_bf16_n(c + r * p.N, p.c + r * p.ldc, p.N);
}

