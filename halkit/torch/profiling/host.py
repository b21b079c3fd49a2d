"""The host side of a profile: torch's ops as they reach their kernels, module forwards, record_function spans.

Each span is timed with ``time.perf_counter`` and, on every traced device, takes a place in the device's issue
order (``Trace.now()``) at its entry and exit: a device command whose issue index falls between the two was
issued while the span was open — exactly, not inferred from overlapping times.

What records them:

* a ``TorchDispatchMode``: every aten (or ``halkit::``) op as it reaches its kernel, below autograd, so the
  backward's ops are seen too, on the thread that runs them (torch's autograd worker for device tensors: the
  mode is part of the thread-local state autograd hands its workers). Ops a kernel calls internally are not
  seen (the mode is off inside its own handler): a span is one op as the model issued it.
* torch's ``record_function`` annotations (torch's optimizers wrap ``step`` and ``zero_grad`` in one; a user's
  ``with torch.profiler.record_function("forward")`` works too): in torch 2.x, entering and leaving one are
  the dispatched ops ``profiler::_record_function_enter_new`` / ``_record_function_exit``, which the mode turns
  into a span instead of recording them as ops. An exit closes the thread's innermost open annotation (the
  handle it passes is a fresh Python wrapper, so it cannot be matched by identity; ``with`` blocks nest).
* global ``nn.Module`` forward hooks: a span per module call (its class name), around the ops it issues.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_ANNOTATION_ENTER = "profiler::_record_function_enter_new"
_ANNOTATION_EXIT = "profiler::_record_function_exit._RecordFunction"


@dataclass(eq=False, slots=True)  # eq=False: spans are told apart by identity (two calls of one op are equal)
class HostSpan:
    """One host span: an op, a module's forward, an annotation, or the profile's own final synchronize."""

    name: str  # "aten::addmm", "Linear", "Optimizer.step#Adam.step"
    category: str  # "op" | "module" | "annotation" | "profile"
    lane: str  # the host thread's lane: "main thread" or "<thread name> · tid <native id>"
    thread: int  # native thread id
    start: float  # seconds since the profile started (perf_counter)
    end: float
    shapes: str  # the tensor arguments' shapes, for an op
    status: str  # "ok" | "failed" (raised) | "open at profile end"
    marks: tuple  # per traced device: (index at entry, index at exit, modelled seconds the host waited inside)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def waited(self) -> float:
        """Modelled seconds the host waited for the devices inside this span (the modelled host clock only
        advances when the host waits for a device)."""
        return sum(waited for _, _, waited in self.marks)


def lane_of_this_thread() -> tuple[str, int]:
    """(lane name, native thread id). A thread Python did not start (threading names it "Dummy-N") is torch's:
    autograd's device worker, which runs the backward of device tensors."""
    thread, native = threading.current_thread(), threading.get_native_id()
    if thread is threading.main_thread():
        return "main thread", native
    if isinstance(thread, threading._DummyThread):
        return f"torch thread · tid {native}", native
    return f"{thread.name} · tid {native}", native


class HostRecorder:
    """Records host spans into ``spans`` between ``start()`` and ``stop()``; times relative to ``origin``."""

    def __init__(self, traces, origin: float, modules: bool):
        self.spans: list[HostSpan] = []
        self._traces, self._origin, self._modules = list(traces), origin, modules
        self._mode = _OpMode(self)
        self._hooks = []
        self._stacks = threading.local()  # per thread: its open module and annotation spans, innermost last

    # --- spans ------------------------------------------------------------------------------------------------
    def open(self, name: str, category: str, shapes: str = ""):
        lane, thread = lane_of_this_thread()
        start = time.perf_counter()  # before the marks: the span's time contains its place in issue order
        return name, category, shapes, lane, thread, start, [trace.now() for trace in self._traces]

    def close(self, opened, status: str = "ok") -> HostSpan:
        marks_out = [trace.now() for trace in self._traces]
        end = time.perf_counter()
        name, category, shapes, lane, thread, start, marks_in = opened
        marks = tuple((i_in, i_out, model_out - model_in)
                      for (i_in, _, model_in), (i_out, _, model_out) in zip(marks_in, marks_out))
        span = HostSpan(name, category, lane, thread, start - self._origin, end - self._origin, shapes, status,
                        marks)
        self.spans.append(span)  # list.append is atomic: backward's thread records alongside the main one
        return span

    @contextlib.contextmanager
    def span(self, name: str, category: str, shapes: str = ""):
        """The enclosed code as one span."""
        opened, status = self.open(name, category, shapes), "failed"
        try:
            yield
            status = "ok"
        finally:
            self.close(opened, status)

    # --- recording on and off ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._mode.__enter__()
        if self._modules:
            module = torch.nn.modules.module
            self._hooks = [module.register_module_forward_pre_hook(self._module_enter),
                           module.register_module_forward_hook(self._module_exit, always_call=True)]

    def stop(self) -> None:
        """Stop recording; spans still open (a profile closed inside a forward) end here, marked so."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        self._mode.__exit__(None, None, None)
        stack = self._open()
        for _, opened in reversed(stack):  # innermost first: they stay nested
            self.close(opened, "open at profile end")
        stack.clear()

    # --- the sources --------------------------------------------------------------------------------------------
    def _module_enter(self, module, args) -> None:
        self._open().append((id(module), self.open(type(module).__name__, "module")))

    def _module_exit(self, module, args, output) -> None:
        self._close_innermost(id(module))  # not open: its forward began before the profile

    def _annotation_enter(self, name: str) -> None:
        self._open().append(("annotation", self.open(name, "annotation")))

    def _annotation_exit(self) -> None:
        self._close_innermost("annotation")  # not open: it was entered before the profile

    def _close_innermost(self, key) -> None:
        stack = self._open()
        if stack and stack[-1][0] == key:
            self.close(stack.pop()[1])

    def _open(self) -> list:
        """This thread's open module and annotation spans, as (module id or "annotation", span), innermost last."""
        if not hasattr(self._stacks, "open"):
            self._stacks.open = []
        return self._stacks.open


class _OpMode(TorchDispatchMode):
    """Each op that reaches a kernel becomes a span; record_function enter/exit become annotation spans."""

    def __init__(self, recorder: HostRecorder):
        super().__init__()
        self._recorder = recorder

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.name()
        if name == _ANNOTATION_ENTER:
            self._recorder._annotation_enter(str(args[0]))
            return func(*args, **kwargs)
        if name == _ANNOTATION_EXIT:
            self._recorder._annotation_exit()
            return func(*args, **kwargs)
        with self._recorder.span(name, "op", _shapes(args)):
            return func(*args, **kwargs)


def _shapes(args) -> str:
    """The tensor arguments' shapes: ``[128, 64], [64, 256]``; a list of tensors (foreach ops) as a count."""
    parts = []
    for arg in args:
        if isinstance(arg, torch.Tensor):
            parts.append(f"[{', '.join(map(str, arg.shape))}]")
        elif isinstance(arg, (list, tuple)) and arg and all(isinstance(a, torch.Tensor) for a in arg):
            parts.append(f"{len(arg)} tensors")
    return ", ".join(parts)
