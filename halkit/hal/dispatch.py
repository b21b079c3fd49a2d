"""Running an op somewhere: on the device its DeviceArray inputs live on, or round-tripping host arrays.

The op API (:mod:`halkit.hal.ops`) validates, then calls a host driver's
kernel directly when every argument is a NumPy array and the current driver
computes in host memory. Everything else comes here:

* DeviceArray inputs → outputs allocated on their device, one ``launch``
  (or the declared fallback), DeviceArrays returned, nothing copied back;
* NumPy inputs on a device behind a link → uploaded, launched, downloaded.
"""
from __future__ import annotations

import numpy as np

from . import decompositions, fallback, opset, registry
from .array import DeviceArray, adopt, empty, to_device
from .errors import DeviceError
from .streams import current_stream_handle


def _device_of(op: str, inputs) -> object | None:
    """The driver every DeviceArray input lives on (None when there is none); mixing devices is an error."""
    driver, first = None, None
    for i, x in enumerate(inputs):
        for item in (x if isinstance(x, list) else (x,)):
            if isinstance(item, DeviceArray):
                if driver is None:
                    driver, first = item.driver, i
                elif item.driver is not driver:
                    raise DeviceError(
                        f"{op}: inputs live on different devices ({driver.name!r} for input {first}, "
                        f"{item.driver.name!r} for input {i}); move one with halkit.hal.to_device(x, device)")
    return driver


def _upload(x, driver):
    if isinstance(x, list):
        return [_upload(v, driver) for v in x]
    return x if x is None or isinstance(x, DeviceArray) else to_device(x, driver)


def _host_view(x):
    return [_host_view(v) for v in x] if isinstance(x, list) else None if x is None else x.driver.view(x)


def run(op: str, inputs, params) -> object:
    """Run ``op`` where its inputs are; ``params`` are the values in the op's declared order (or a dict)."""
    if not isinstance(params, dict):
        params = dict(zip(opset.lookup(op).defaults, params))
    driver = _device_of(op, inputs)
    if driver is None:  # host arrays on a device behind a link: there and back
        outputs = on_device(registry.active(), op, inputs, params)
        results = tuple(out.numpy() for out in outputs)
    else:
        results = tuple(on_device(driver, op, inputs, params))
    return results[0] if len(results) == 1 else results


def on_device(driver, op: str, inputs, params: dict) -> list[DeviceArray]:
    """``op`` on ``driver``; host arrays among ``inputs`` are uploaded first. Returns the output DeviceArrays."""
    inputs = [_upload(x, driver) for x in inputs]
    if driver.host_memory and _runs(driver, op, inputs):
        # Host memory: the kernel reads the buffers in place and its new arrays become the outputs.
        results = getattr(driver, op)(*(_host_view(x) for x in inputs), **params)
        return [adopt(driver, r) for r in (results if isinstance(results, tuple) else (results,))]
    specs, params = opset.infer(op, inputs, params)
    outputs = [empty(spec.shape, spec.dtype, driver) for spec in specs]
    launch(driver, op, outputs, inputs, params, current_stream_handle(driver))
    return outputs


def _runs(driver, op: str, inputs) -> bool:
    caps = driver.capabilities()
    if op not in caps.ops:
        return False
    dtypes = _float_dtypes(caps)
    for x in inputs:
        for item in (x if type(x) is list else (x,)):
            if item is not None and item.dtype.kind == "f" and item.dtype not in dtypes:
                return False
    return True


_DTYPES: dict = {}


def _float_dtypes(caps) -> frozenset:
    """caps.dtypes as np.dtype objects (comparing names costs a Python call per input in NumPy)."""
    found = _DTYPES.get(caps.dtypes)
    if found is None:
        found = _DTYPES[caps.dtypes] = frozenset(np.dtype(d) for d in caps.dtypes)
    return found


def launch(driver, op: str, outputs, inputs, params: dict, stream) -> None:
    """``driver.launch`` when the device runs ``op`` at these dtypes, else its declared fallback."""
    if _runs(driver, op, inputs):
        driver.launch(op, outputs, inputs, params, stream)
        return
    decomposition = decompositions.for_device(op, driver)
    if decomposition is not None:
        fallback.note(driver.name, op, "decomposed")
        decomposition(driver, outputs, inputs, params, stream)
        return
    fallback.note(driver.name, op, "host")
    host_inputs = [_download(x, driver, stream) for x in inputs]
    driver.synchronize(stream)
    results = getattr(registry.reference(), op)(*host_inputs, **params)
    for out, result in zip(outputs, results if isinstance(results, tuple) else (results,)):
        driver.copy_in(out, np.ascontiguousarray(result, dtype=out.dtype).reshape(out.shape), stream)  # 0-D stays 0-D


def _download(x, driver, stream):
    if isinstance(x, list):
        return [_download(v, driver, stream) for v in x]
    if x is None:
        return None
    host = np.empty(x.shape, x.dtype)
    driver.copy_out(host, x, stream)
    return host
