// The avx512 path's vector width and GEMM micro-tiles, shared by the translation units
// compiled for it (kernels_avx512.cpp, kernels_avx512bf16.cpp): Cfg<float> reads them.
#pragma once
#define HALKIT_VBYTES 64
#define HALKIT_MR_F32 12
#define HALKIT_NV_F32 2
#define HALKIT_MR_F64 12
#define HALKIT_NV_F64 2
