"""Moving tensor data: host ↔ device through the driver's copy_in / copy_out, device ↔ device by launches.

``tensor.to("halkit")``, ``.cpu()``, ``copy_`` and ``.item()`` all arrive
here (torch routes every copy that involves a non-CPU device through
``aten::_copy_from``). Dense layouts move as they are; a destination with gaps
(a slice being assigned) is written by read-modify-write of the span it covers.
"""
from __future__ import annotations

import numpy as np
import torch

from halkit.hal import DeviceArray, dispatch
from halkit.hal.streams import current_stream_handle

from . import fallback, memory


def _dense(t: torch.Tensor) -> bool:
    """Non-overlapping and dense: t's elements fill the span of storage they occupy (any axis order)."""
    if t.is_contiguous():
        return True
    expected = 1
    for size, stride in sorted(zip(t.shape, t.stride()), key=lambda p: p[1]):
        if size == 1:
            continue
        if stride != expected:
            return False
        expected *= size
    return True


def _span(t: torch.Tensor) -> int:
    """Elements from t's first to its last element in storage (t has no negative strides)."""
    if t.numel() == 0:
        return 0
    return 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride()))


def _span_array(t: torch.Tensor, span: int) -> DeviceArray:
    dtype = memory.numpy_dtype(t.dtype)
    return DeviceArray(memory.owner(t), (span,), dtype, t.storage_offset() * dtype.itemsize)


def _host_bytes(t: torch.Tensor) -> np.ndarray:
    """A CPU tensor's elements (contiguous) as a NumPy array of the matching dtype (bfloat16 as int16 bits)."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy()


def _from_host(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    t = torch.from_numpy(a)
    return t.view(torch.bfloat16) if dtype == torch.bfloat16 else t


def download(t: torch.Tensor) -> torch.Tensor:
    """A new CPU tensor with a halkit tensor's values (waits for the device)."""
    if t.numel() == 0:
        return torch.empty(t.shape, dtype=t.dtype)
    return _from_host(memory.as_array(t).numpy(), t.dtype).reshape(t.shape)


def upload(src: torch.Tensor, dst: torch.Tensor) -> None:
    """CPU tensor ``src`` (broadcast to dst's shape, any dtype) into halkit tensor ``dst``."""
    if dst.numel() == 0:
        return
    driver = memory.driver_of(dst)
    stream = current_stream_handle(driver)
    if _dense(dst):
        # A CPU image of dst's span (same strides): its memory is exactly the bytes dst's span must hold.
        image = torch.empty_strided(dst.shape, dst.stride(), dtype=dst.dtype)
        image.copy_(src)
        flat = image.as_strided((dst.numel(),), (1,))
        driver.copy_in(_span_array(dst, dst.numel()), _host_bytes(flat), stream)
        return
    span = _span_array(dst, _span(dst))  # a slice with gaps: the gaps' bytes must survive
    host = span.numpy()
    torch.as_strided(_from_host(host, dst.dtype), dst.shape, dst.stride()).copy_(src)
    driver.copy_in(span, host, stream)


def device_to_device(src: torch.Tensor, dst: torch.Tensor) -> None:
    if dst.numel() == 0:
        return
    driver = memory.driver_of(dst)
    if memory.driver_of(src) is not driver:  # tensors of two drivers: through the host, explicitly
        upload(download(src), dst)
        return
    if src.dtype != dst.dtype:
        if src.dtype in memory.COMPUTE_DTYPES and dst.dtype in memory.COMPUTE_DTYPES:
            cast = dispatch.on_device(driver, "cast", [memory.as_array(src)], dict(dtype=memory.numpy_dtype(dst.dtype).name))[0]
            src = memory.as_tensor(cast, src.shape)
        else:
            fallback.note("aten::_copy_from (dtype conversion)")
            upload(download(src).to(dst.dtype), dst)
            return
    if not _dense(dst):
        fallback.note("aten::_copy_from (strided destination)")
        upload(download(src), dst)
        return
    # dst is dense in some axis order: copy src in that order into dst's span, one copy_strided launch.
    order = sorted(range(dst.dim()), key=lambda i: (-dst.stride(i), i))
    dst_ordered, src_ordered = dst.permute(order), src.permute(order)
    same_memory = memory.owner(src) is memory.owner(dst)
    if src_ordered.is_contiguous() and not same_memory:
        inputs = [_span_array(src_ordered, src_ordered.numel())]
        params = dict(shape=(src_ordered.numel(),), strides=(1,), offset=0)
    else:
        inputs = [memory.storage_array(src_ordered)]
        params = dict(shape=tuple(src_ordered.shape), strides=src_ordered.stride(), offset=src_ordered.storage_offset())
    if same_memory:  # overlapping source and destination: through a temporary, as copy_ must
        temporary = dispatch.on_device(driver, "copy_strided", inputs, params)[0]
        inputs, params = [temporary], dict(shape=temporary.shape, strides=tuple(memory.contiguous_strides(temporary.shape)), offset=0)
    out = _span_array(dst_ordered, dst_ordered.numel()).reshape(params["shape"])
    dispatch.launch(driver, "copy_strided", [out], inputs, params, current_stream_handle(driver))


def copy_from(src: torch.Tensor, dst: torch.Tensor, non_blocking: bool = False) -> torch.Tensor:
    """aten::_copy_from: src into dst, at least one of them on halkit (torch broadcasts src to dst's shape)."""
    if src.shape != dst.shape:
        src = src.expand_as(dst)
    src_here, dst_here = src.device.type == memory.DEVICE_TYPE, dst.device.type == memory.DEVICE_TYPE
    if src_here and dst_here:
        device_to_device(src, dst)
    elif dst_here:
        upload(src, dst)
    else:
        dst.copy_(download(src))
    return dst


def copy_from_and_resize(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    dst.resize_(src.shape)
    return copy_from(src, dst)


def local_scalar_dense(t: torch.Tensor):
    """``t.item()``: one element copied to the host."""
    return download(t).item()
