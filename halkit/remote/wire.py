"""What client and server agree on besides the .proto: frames, parameter values, the cost model, errors, the token.

The messages are generated from ``device.proto`` (committed as ``device_pb2.py``: an install needs no protoc;
``python -m halkit.remote gen-proto`` regenerates it and a test checks it matches). The RPCs are registered
with gRPC's generic handlers rather than generated stubs, because the Session stream sends frames that are
already serialized (below): a 1 MiB copy chunk is then copied once into its message, not once per nesting level.
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import numpy as np

from halkit.hal import errors
from halkit.hal.cost import DeviceSpec, SystolicArray

from . import device_pb2 as pb

PROTOCOL = 1
SERVICE = pb.DESCRIPTOR.services_by_name["Device"].full_name  # "halkit.remote.Device"
TOKEN_METADATA = "x-halkit-token"  # gRPC metadata key carrying the shared token on every call
CHUNK_BYTES = 1 << 20  # data per copy message: large enough to amortise a message, far below any limit
MAX_MESSAGE_BYTES = 8 << 20  # a batch is cut at 4 MiB of data, so 8 MiB leaves room for its commands
HEARTBEAT_S = 0.5  # an idle session stream carries a heartbeat this often ...
LOST_AFTER_S = 3.0  # ... so a client that hears nothing for this long knows the server is gone
#: dtypes a buffer view may have on the wire; anything else is a malformed request.
WIRE_DTYPES = frozenset({"float32", "float64", "bfloat16", "int64", "int32", "uint8", "bool"})


# --- frames: serialized messages, joined without re-encoding --------------------------------------------

def method(name: str) -> str:
    """The gRPC path of RPC ``name`` of the Device service."""
    return f"/{SERVICE}/{name}"


def frame(kind: str, body) -> bytes:
    """One command as a serialized Batch. Serialized messages concatenate into their merge, and a merge
    appends repeated fields, so ``b"".join(frames)`` IS the Batch holding every command, in order."""
    batch = pb.Batch()
    getattr(batch.commands.add(), kind).CopyFrom(body)
    return batch.SerializeToString()


def copy_in_frame(stream: int, buffer: int, offset: int, data: bytes) -> bytes:
    """A CopyIn command's frame, its data copied once (CopyFrom would copy it again)."""
    batch = pb.Batch()
    body = batch.commands.add().copy_in
    body.stream, body.buffer, body.offset, body.data = stream, buffer, offset, data
    return batch.SerializeToString()


def data_reply(request: int, offset: int, data: bytes) -> bytes:
    """A serialized Reply carrying one chunk of a copy back to the host."""
    reply = pb.Reply()
    reply.data.request, reply.data.offset, reply.data.data = request, offset, data
    return reply.SerializeToString()


# --- launch parameters: None, bool, int, float, str and tuples of them ---------------------------------

def encode_value(value) -> pb.Value:
    if value is None:
        return pb.Value(none=True)
    if isinstance(value, (bool, np.bool_)):
        return pb.Value(flag=bool(value))
    if isinstance(value, (int, np.integer)):
        return pb.Value(integer=int(value))
    if isinstance(value, (float, np.floating)):
        return pb.Value(real=float(value))
    if isinstance(value, str):
        return pb.Value(text=value)
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return pb.Value(text=np.dtype(value).name)
    if isinstance(value, (tuple, list)):
        return pb.Value(items=pb.Values(items=[encode_value(v) for v in value]))
    raise TypeError(f"a launch parameter must be None, bool, int, float, str or a tuple of them, got "
                    f"{type(value).__name__} {value!r}")


def decode_value(value: pb.Value):
    kind = value.WhichOneof("kind")
    if kind is None:
        raise ValueError("a launch parameter value has no kind set")
    if kind == "items":
        return tuple(decode_value(v) for v in value.items.items)
    return None if kind == "none" else getattr(value, kind)


# --- the cost model ------------------------------------------------------------------------------------

def encode_spec(spec: DeviceSpec) -> pb.DeviceSpec:
    out = pb.DeviceSpec(
        name=spec.name, peak_flops=dict(spec.peak_flops), memory_bandwidth=spec.memory_bandwidth,
        link_bandwidth=spec.link_bandwidth, link_latency=spec.link_latency, launch_overhead=spec.launch_overhead,
        sram_bytes=spec.sram_bytes, memory_bytes=spec.memory_bytes, source=spec.source,
        link_bandwidth_d2h=spec.link_bandwidth_d2h or 0.0)
    if spec.systolic is not None:
        s = spec.systolic
        out.systolic.CopyFrom(pb.SystolicArray(rows=s.rows, cols=s.cols, dataflow=s.dataflow, clock_hz=s.clock_hz))
    return out


def decode_spec(spec: pb.DeviceSpec) -> DeviceSpec:
    systolic = None
    if spec.HasField("systolic"):
        s = spec.systolic
        systolic = SystolicArray(s.rows, s.cols, s.dataflow, s.clock_hz)
    return DeviceSpec(
        name=spec.name, peak_flops=dict(spec.peak_flops), memory_bandwidth=spec.memory_bandwidth,
        link_bandwidth=spec.link_bandwidth, link_latency=spec.link_latency, launch_overhead=spec.launch_overhead,
        sram_bytes=spec.sram_bytes, memory_bytes=spec.memory_bytes, systolic=systolic, source=spec.source,
        link_bandwidth_d2h=spec.link_bandwidth_d2h or None)


# --- errors: the server names the class, the client raises it -------------------------------------------

_ERRORS = {cls.__name__: cls for cls in (
    errors.DeviceError, errors.OutOfMemoryError, errors.BufferFreedError, errors.StreamError,
    errors.DeviceLostError, errors.FallbackError, errors.HostAccessError, ValueError, TypeError, IndexError)}


def encode_error(exc: BaseException, context: str = "") -> pb.Error:
    """``exc`` as the nearest class the client knows; ``context`` (where it happened) prefixes the message."""
    kind = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in _ERRORS), "DeviceError")
    named = f"{type(exc).__name__}: {exc}" if context or kind != type(exc).__name__ else str(exc)
    return pb.Error(kind=kind, message=context + named)


def decode_error(error: pb.Error) -> Exception:
    return _ERRORS.get(error.kind, errors.DeviceError)(error.message)


# --- the shared token ------------------------------------------------------------------------------------

def write_token(path: str | Path) -> str:
    """Create ``path`` readable by its owner only (0600) holding a new random token; refuses to overwrite."""
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def read_token(path: str | Path) -> str:
    """The token in ``path``; refuses an empty file and one other users may read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        token = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the halkit remote token file {str(path)!r}: {exc.strerror}; pass the file "
                         "the server printed (HALKIT_REMOTE_TOKEN_FILE or token_file=...)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"token file {str(path)!r} is readable by other users (mode {stat.S_IMODE(mode):o}): "
                         f"run `chmod 600 {path}`")
    if not token:
        raise ValueError(f"token file {str(path)!r} is empty")
    return token
