"""How close a backend's result must be to the exact answer."""
import numpy as np

# Componentwise bound for a dot product of length K: |C - C_exact| ≤ tol · (|A| @ |B|).
# fp32 accumulates ~√K·2⁻²⁴ relative error in practice; 1e-5 leaves room up to K = 4096.
GEMM_TOL = {np.float32: 1e-5, np.float64: 1e-12}
ELEMENTWISE = {np.float32: dict(rtol=2e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
REDUCTION = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


def gemm_error(result, a, b, bias=None):
    """Largest error of result against op(a) @ op(b) (+ bias), relative to Σ_k |a_ik b_kj|."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    exact = a64 @ b64 + (0 if bias is None else bias.astype(np.float64))
    scale = np.abs(a64) @ np.abs(b64) + (0 if bias is None else np.abs(bias.astype(np.float64)))
    if result.size == 0:
        return 0.0
    return float(np.max(np.abs(result - exact) / np.maximum(scale, np.finfo(np.float64).tiny)))


def random(rng, shape, dtype, scale=1.0):
    """Uniform in [-scale, scale]; always an ndarray, 0-D included."""
    return np.asarray(rng.uniform(-scale, scale, size=shape), dtype=dtype)
