"""im2col / col2im in NumPy: the data movement that turns a convolution into GEMMs.

Used by the default conv2d decomposition (forward) and by halkit.torch's
convolution backward.

Rows are output positions (n, ho, wo), columns are (c, kh, kw), the order of
``weight.reshape(O, -1)``, so a weight gradient is one GEMM on these columns.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def output_size(size, kernel, stride, padding, dilation) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(x: np.ndarray, kernel_size, stride, padding, dilation) -> np.ndarray:
    """(N, C, H, W) → (N·Ho·Wo, C·kh·kw), C-contiguous (one gather copy)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(padded, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C, Ho, Wo, kh, kw)
    n, c, ho, wo = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)


def col2im(cols: np.ndarray, input_size, kernel_size, stride, padding, dilation) -> np.ndarray:
    """The adjoint of im2col: sum each column entry back onto the input pixel it came from."""
    n, c, h, w = input_size
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    ho, wo = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    patches = cols.reshape(n, ho, wo, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)  # (N, C, kh, kw, Ho, Wo)
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw] += patches[:, :, i, j]
    return np.ascontiguousarray(padded[:, :, ph : ph + h, pw : pw + w])
