"""An example device driver in one file: "arena", an asynchronous accelerator with its own memory.

Its memory is ONE private byte arena with a capacity, carved up by a first-fit free list; the host gets
opaque Block handles, never the bytes. Work runs on hardware queues served by worker threads: copy_in,
launch and copy_out return at once and run later, in issue order. It runs 11 ops with its own kernels;
halkit runs the others through decompositions into these (on the device) or counted host fallbacks.
Register it with ``hal.register_backend("arena", ArenaDriver)`` or the entry point in pyproject.toml;
check it with ``python -m halkit.cts --driver examples/devices/arena_device.py:ArenaDriver``.
"""
import queue
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided
from scipy.special import erf

from halkit.hal import (BufferFreedError, Capabilities, DeviceError, DeviceSpec, DeviceTimeoutError, Driver,
                        HostAccessError, OutOfMemoryError, StreamError, SystolicArray, opset)

ALIGN = 64  # every block starts on a 64-byte boundary, as DMA engines like
QUEUES = 4  # hardware queues, handed out in turn as streams (a wait follows its record: no deadlock)


# --- kernels: what the device computes. Each writes into its output, allocated by the caller. -------------
def _gemm(out, a, b, bias, trans_a, trans_b, activation):
    np.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)
    out += 0 if bias is None else bias
    if activation:  # the activation is fused into the GEMM, as a real device would
        KERNELS[activation](out, out)


def _softmax(out, x):
    e = np.exp(x - x.max(axis=-1, keepdims=True, initial=-np.inf))  # initial: a row may be empty
    np.divide(e, e.sum(axis=-1, keepdims=True), out=out)


def _layer_norm(out, x, weight, bias, eps):
    out[...] = (x - x.mean(axis=-1, keepdims=True)) / np.sqrt(x.var(axis=-1, keepdims=True) + x.dtype.type(eps))
    out *= 1 if weight is None else weight
    out += 0 if bias is None else bias


KERNELS = {  # op -> kernel(out, *inputs, **params); halkit.hal.opset names each op's inputs and parameters
    "gemm": _gemm, "softmax": _softmax, "layer_norm": _layer_norm,
    "relu": lambda out, x: np.maximum(x, 0, out=out),  # np.maximum propagates NaN, like torch.relu
    "gelu": lambda out, x: np.multiply(0.5 * x, 1.0 + erf(x * x.dtype.type(0.7071067811865476)), out=out),
    "add": lambda out, a, b, alpha: np.add(a, np.multiply(b, alpha, dtype=b.dtype), out=out),
    "mul": lambda out, a, b: np.multiply(a, b, out=out),
    "scale": lambda out, x, alpha, beta: np.add(np.multiply(x, alpha, dtype=x.dtype), beta, out=out),
    "sum": lambda out, x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims, out=out),
    "fill": lambda out, shape, dtype, value: out.fill(value),
    "copy_strided": lambda out, x, shape, strides, offset: np.copyto(out, as_strided(
        x.reshape(-1)[offset:], shape, tuple(s * x.itemsize for s in strides))),
}


class Block:
    """One allocation: a byte range of the arena. Opaque to the host on purpose."""

    def __init__(self, offset, nbytes):
        self.offset, self.nbytes, self.freed = offset, nbytes, False

    def __array__(self, *args, **kwargs):
        raise HostAccessError("an arena Block is device memory: copy it out (copy_out, DeviceArray.numpy())")


class HardwareQueue(queue.SimpleQueue):
    """A stream: one worker thread runs the commands put on it, in order (``put`` is thread-safe)."""

    def __init__(self):
        super().__init__()
        self.error = None  # the first failure, raised once where the host next synchronizes
        threading.Thread(target=self._serve, daemon=True, name="arena queue").start()

    def _serve(self):
        while (command := self.get()) is not None:
            try:
                command()
            except Exception as exc:  # noqa: BLE001 - any kernel failure is the stream's failure
                self.error = self.error or exc


class ArenaDriver(Driver):
    name = "arena"

    def __init__(self, capacity=256 << 20):
        self.arena = np.empty(capacity, np.uint8)  # the device memory; only the workers touch its bytes
        self.holes = [(0, capacity)]  # free (offset, size) ranges, sorted and coalesced
        self.pending, self.lock, self.closed = queue.SimpleQueue(), threading.Lock(), False  # pending: freed blocks
        self.queues, self.turn = [HardwareQueue() for _ in range(QUEUES)], 0
        spec = DeviceSpec("arena NPU (example)", peak_flops={"float32": 2e12}, memory_bandwidth=200e9,
                          link_bandwidth=12e9, link_latency=8e-6, launch_overhead=5e-6, sram_bytes=8 << 20,
                          memory_bytes=capacity, systolic=SystolicArray(32, 32, "ws", 1e9))
        self.caps = Capabilities(ops=KERNELS, dtypes=("float32",), memory_bytes=capacity, host_memory=False,
                                 cost=spec)

    def capabilities(self): return self.caps

    # --- memory: first fit in the arena; a free is stream-ordered (reclaimed once earlier work is done) ----
    def allocate(self, nbytes):
        if self.closed or nbytes < 0:
            raise DeviceError("the arena is closed") if self.closed else ValueError(f"allocate: nbytes {nbytes} < 0")
        size = -(-max(int(nbytes), 1) // ALIGN) * ALIGN
        block = self._take(size) or self._drain() or self._take(size)  # freed blocks may wait for queued work
        if block is None:
            raise OutOfMemoryError(f"arena: no free range of {nbytes} bytes in {self.caps.memory_bytes}")
        return block

    def _take(self, size):
        with self.lock:
            for _ in range(self.pending.qsize()):  # reclaim the blocks no queued work can touch any more
                block, marks = self.pending.get()
                if all(event.is_set() for event in marks):
                    self.holes = _coalesce(self.holes + [(block.offset, block.nbytes)])
                else:
                    self.pending.put((block, marks))
            for i, (offset, free) in enumerate(self.holes):
                if free >= size:
                    self.holes[i:i + 1] = [(offset + size, free - size)] if free > size else []
                    return Block(offset, size)
        return None

    def free(self, buffer):
        if self.closed:
            return  # finalizers may run after close: nothing is left to free
        if buffer.freed:
            raise BufferFreedError("arena: this block was already freed")
        buffer.freed = True  # no lock needed: free runs from finalizers, on any thread, and never blocks
        self.pending.put((buffer, [self.record(q) for q in self.queues]))  # reclaimed once all are reached

    def _view(self, array):  # the arena bytes a DeviceArray denotes, as a NumPy array (device side only)
        if self.closed or array.driver is not self:
            raise DeviceError("the arena is closed" if self.closed else f"arena: {array!r} is on another device")
        if array.buffer.freed:
            raise BufferFreedError(f"arena: {array!r} uses a freed block")
        start = array.buffer.offset + array.offset
        return self.arena[start:start + array.nbytes].view(array.dtype).reshape(array.shape)

    # --- transfers: staged at the call (the source is reusable on return), run by the stream's queue ----------
    def copy_in(self, dst, src, stream):
        target, staged = self._view(dst), np.array(src, copy=True)
        if (staged.shape, staged.dtype) != (target.shape, target.dtype):
            raise ValueError(f"copy_in: source {staged.shape} {staged.dtype} does not match {dst!r}")
        stream.put(lambda: np.copyto(target, staged))

    def copy_out(self, dst, src, stream):
        source = self._view(src)
        if (dst.shape, dst.dtype) != (source.shape, source.dtype):
            raise ValueError(f"copy_out: destination {dst.shape} {dst.dtype} does not match {src!r}")
        stream.put(lambda: np.copyto(dst, source))

    def launch(self, op, outputs, inputs, params, stream):
        if op not in KERNELS:
            raise DeviceError(f"arena has no kernel for op {op!r} (see capabilities().ops)")
        params = opset.check_launch(op, outputs, inputs, params)  # bad shapes or params fail here, at the call
        (out,), args = [self._view(o) for o in outputs], [None if x is None else self._view(x) for x in inputs]
        stream.put(lambda: KERNELS[op](out, *args, **params))  # every op here has one output

    # --- ordering -------------------------------------------------------------------------------------------
    def create_stream(self):
        self.turn += 1  # streams take the hardware queues in turn
        return self.queues[self.turn % QUEUES]

    def record(self, stream):
        event = threading.Event()
        event.stream = stream  # whose failures a synchronize on this event reports
        stream.put(event.set)
        return event

    def wait(self, stream, event): stream.put(event.wait)

    def query(self, event): return event.is_set()

    def synchronize(self, target=None, timeout=None):
        targets = [] if self.closed else self.queues if target is None else [target]  # closed: all was done
        for event in [t if isinstance(t, threading.Event) else self.record(t) for t in targets]:
            if not event.wait(timeout):
                raise DeviceTimeoutError(f"arena: the work was not done after {timeout} s")
            error, event.stream.error = event.stream.error, None
            if error is not None:
                raise StreamError(f"a command on an arena stream failed: {type(error).__name__}: {error}") from error

    def _drain(self):
        for q in self.queues:
            self.record(q).wait()

    def close(self):
        if not self.closed:
            self._drain()  # queued work finishes first
            self.closed = True
            for q in self.queues:
                q.put(None)


def _coalesce(ranges):
    merged = []
    for offset, size in sorted(ranges):  # join ranges that touch
        touching = merged and merged[-1][0] + merged[-1][1] == offset
        merged[-1:] = [(merged[-1][0], merged[-1][1] + size)] if touching else merged[-1:] + [(offset, size)]
    return merged
