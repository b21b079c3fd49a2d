"""The device contract: what a driver implements so that everything above the HAL runs on its device.

One driver object drives one device. Its contract is small enough for one
file and rich enough that the runtime can place, keep data resident and
overlap copies with compute on it::

    capabilities()                          what it runs, its memory, its link, its cost model
    allocate(nbytes) -> buffer              device memory; the handle is the driver's own object
    free(buffer)                            stream-ordered: safe while queued work still uses it
    copy_in(dst, src, stream)               host → device; ``src`` may be reused once the call returns
    copy_out(dst, src, stream)              device → host; ``dst`` holds the data once the stream gets there
    launch(op, outputs, inputs, params, stream)
                                            run one op of the op set (:mod:`halkit.hal.opset`) on device arrays
    create_stream() -> stream               an in-order queue; different streams may run concurrently
    destroy_stream(stream)                  release it; work already issued still runs (optional: default no-op)
    record(stream) -> event                 a point in a stream
    wait(stream, event)                     later work on ``stream`` waits for ``event``
    query(event) -> bool                    has the point been reached?
    synchronize(target=None, timeout=None)  block until a stream, an event or the whole device is done;
                                            raises the first failure of the work it waited for
    close()                                 release the device (idempotent)

Device-side arguments are :class:`~halkit.hal.array.DeviceArray` objects: a
dense, C-ordered view (``shape``, ``dtype``, byte ``offset``) of one of the
driver's buffers. Outputs are allocated by the caller, so ``launch`` only
writes: the same call serves the op API, a torch ``out=`` tensor and the
graph compiler's partitions. Everything a driver does not do has a declared
answer rather than a silent one: an op missing from ``capabilities().ops``
runs through a decomposition or a counted host fallback (see
:mod:`halkit.hal.fallback`), a conformance test it cannot pass is listed in
``capabilities().unsupported`` with the reason.

Drivers whose memory IS host memory (numpy, native) derive from
:class:`~halkit.hal.host.HostDriver` and implement only kernels; a device
behind a link implements the methods above (see ``examples/devices/`` for a
complete one in under 200 lines, and ``halkit.device`` / ``halkit.remote``).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

import numpy as np

from .cost import DeviceSpec


class Link(NamedTuple):
    """The path between host memory and the device's memory."""

    h2d_bandwidth: float  # bytes/s
    d2h_bandwidth: float  # bytes/s
    latency: float  # seconds per transfer


@dataclass(frozen=True)
class Capabilities:
    """What a driver declares about its device; the runtime places work from this alone, never from a name."""

    ops: frozenset  # op-set names ``launch`` runs natively
    dtypes: tuple  # dtype names it computes in, e.g. ("float32", "float64")
    memory_bytes: int  # device memory capacity
    host_memory: bool  # buffers are host memory: NumPy arrays pass without copies
    cost: DeviceSpec  # prices kernels and (when not host_memory) the link
    unsupported: Mapping[str, str] = field(default_factory=dict)  # conformance features it lacks → why
    #: dtypes that only some ops take, op → dtype names, e.g. {"gemm": ("bfloat16",)}: a matrix engine
    #: that multiplies bfloat16 while everything else computes in float32
    op_dtypes: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "ops", frozenset(self.ops))
        object.__setattr__(self, "dtypes", tuple(np.dtype(d).name for d in self.dtypes))
        object.__setattr__(self, "unsupported", MappingProxyType(dict(self.unsupported)))
        object.__setattr__(self, "op_dtypes", MappingProxyType(
            {op: tuple(np.dtype(d).name for d in names) for op, names in self.op_dtypes.items()}))

    @property
    def held_dtypes(self) -> tuple:
        """Every dtype an array on this device may have: the compute dtypes and the per-op ones."""
        return tuple(dict.fromkeys((*self.dtypes, *(d for names in self.op_dtypes.values() for d in names))))

    @property
    def link(self) -> Link | None:
        """The host↔device link, or None for a device that computes in host memory."""
        if self.host_memory:
            return None
        spec = self.cost
        return Link(spec.link_bandwidth, spec.link_bandwidth_d2h or spec.link_bandwidth, spec.link_latency)

    def supports(self, op: str, dtype) -> bool:
        name = np.dtype(dtype).name
        return op in self.ops and (name in self.dtypes or name in self.op_dtypes.get(op, ()))

    def __repr__(self) -> str:
        where = "host memory" if self.host_memory else "behind a link"
        extra = "".join(f", {op} also {'/'.join(names)}" for op, names in self.op_dtypes.items())
        return (f"Capabilities({len(self.ops)} ops, {'/'.join(self.dtypes)}{extra}, {where}, "
                f"{self.memory_bytes / 2**30:.3g} GiB, cost {self.cost.name!r}"
                + (f", {len(self.unsupported)} unsupported feature(s)" if self.unsupported else "") + ")")


class Driver(abc.ABC):
    """One device. Subclass it (one file), register it by name, and the whole stack runs on it."""

    #: the name users pass to ``halkit.hal.use`` / ``to_device``; set by each driver.
    name: str = ""

    #: Optional, for a host-memory driver whose kernels are C functions: a PyCapsule of the host-kernel ABI
    #: (``cpp/host_kernels.h``), which halkit's C++ eager layers call on tensor memory directly — a batch-1
    #: layer then costs no Python per call. The functions must compute what the driver's ops compute.
    host_kernels: Any = None

    #: Optional, for a host-memory driver whose ``gemm`` checks every array argument itself (types, dtypes,
    #: ndim, C order, shapes, bias) and raises TypeError/ValueError on anything it cannot take (the conformance
    #: check ``errors.gemm_arguments`` holds it to that): the op API then hands ``matmul``/``linear`` on
    #: C-ordered NumPy arrays and a valid activation straight to it, and runs its own checks only when the
    #: driver refuses, to raise the op API's error. A 1x1 ``hal.matmul`` on the native driver
    #: costs 0.7 µs instead of 1.2: Python's checks were dearer than the C++ kernel call.
    checks_gemm_arguments: bool = False

    # --- what the device is -------------------------------------------------------------------------
    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What the device runs and costs: ops, dtypes, memory, host memory or a link, cost model, gaps."""

    # --- memory -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def allocate(self, nbytes: int) -> Any:
        """``nbytes`` of device memory; raises OutOfMemoryError (halkit.hal.errors) when it does not fit."""

    @abc.abstractmethod
    def free(self, buffer) -> None:
        """Return ``buffer``; work already queued that uses it still sees it. Freeing twice raises
        BufferFreedError; freeing after ``close()`` is a no-op (garbage collection may run late)."""

    # --- transfers ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def copy_in(self, dst, src: np.ndarray, stream) -> None:
        """host → device array ``dst`` (same shape and dtype as ``src``), ordered on ``stream``."""

    @abc.abstractmethod
    def copy_out(self, dst: np.ndarray, src, stream) -> None:
        """device array ``src`` → host array ``dst``, ordered on ``stream``; read ``dst`` after synchronizing."""

    # --- compute ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def launch(self, op: str, outputs: list, inputs: list, params: dict, stream) -> None:
        """Run op-set op ``op`` on device arrays, writing ``outputs`` (allocated by the caller).
        ``inputs`` follow the op's declared order (None for an absent optional input); ``params`` are
        complete (defaults filled in). For element-wise ops an output may BE one of the inputs (the same
        buffer, offset, shape and dtype): in-place updates such as an optimizer step rely on it, so a kernel
        must read each element before it writes that element."""

    # --- ordering -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_stream(self) -> Any:
        """A new in-order queue of this device; work on different streams may run concurrently."""

    def destroy_stream(self, stream) -> None:
        """Release a stream from ``create_stream`` (never the default one); work already issued to it still runs.
        Drivers whose streams hold nothing (no thread, no queue) need not override this."""

    @abc.abstractmethod
    def record(self, stream) -> Any:
        """An event marking everything issued to ``stream`` so far."""

    @abc.abstractmethod
    def wait(self, stream, event) -> None:
        """Work issued to ``stream`` after this call starts only once ``event`` is reached."""

    @abc.abstractmethod
    def query(self, event) -> bool:
        """True once everything before ``event`` has run (never blocks)."""

    @abc.abstractmethod
    def synchronize(self, target=None, timeout: float | None = None) -> None:
        """Block until ``target`` (a stream, an event, or None: everything) is done; raise its first failure.
        Past ``timeout`` seconds raise DeviceTimeoutError (a TimeoutError); the work goes on."""

    def close(self) -> None:
        """Release the device. Idempotent."""

    # --- provided ------------------------------------------------------------------------------------
    def __init_subclass__(cls, **kwargs):
        # Every op is also a method taking and returning NumPy arrays, as a host driver's kernels are, so the
        # op API calls any driver the same way. Ops a subclass does not define get the generic method of its
        # kind (installed on the class, not via __getattr__, which would slow every attribute access).
        super().__init_subclass__(**kwargs)
        from . import opset

        for name in opset.OPS:
            if getattr(cls, name, None) is None:
                method = cls._generic_op_method(name)
                method.generic = True
                setattr(cls, name, method)

    @staticmethod
    def _generic_op_method(name: str):
        """For a device with its own memory: upload the arguments, launch, download the results."""
        def round_trip(self, *args, **params):
            from . import dispatch, opset

            op = opset.lookup(name)
            n = len(op.inputs)
            params.update(zip(op.defaults, args[n:]))
            results = tuple(out.numpy() for out in dispatch.on_device(self, name, args[:n], params))
            return results[0] if len(results) == 1 else results
        round_trip.__name__ = name
        return round_trip

    @property
    def default_stream(self):
        """The stream ops use unless the caller picked another (created on first use)."""
        stream = self.__dict__.get("_default_stream")
        if stream is None:
            stream = self.__dict__["_default_stream"] = self.create_stream()
        return stream

    @property
    def host_memory(self) -> bool:
        """True when device memory is host memory (cached: a device does not change kind)."""
        cached = self.__dict__.get("_host_memory")
        if cached is None:
            cached = self.__dict__["_host_memory"] = self.capabilities().host_memory
        return cached

    def set_num_threads(self, n: int) -> None:
        """Drivers with their own host thread pool honour ``halkit.hal.set_num_threads``; others ignore it."""

    def __repr__(self) -> str:
        return f"<halkit driver {self.name!r}>"
