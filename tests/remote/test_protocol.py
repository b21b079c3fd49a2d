"""The pieces client and server share: the generated module, parameter values, cost model, errors, token files."""
import importlib.util
import os
import stat

import numpy as np
import pytest

from halkit.hal import DeviceSpec, OutOfMemoryError, SystolicArray, host_spec, opset
from halkit.remote import device_pb2 as pb
from halkit.remote import wire


def test_committed_module_matches_the_proto(tmp_path):
    """device_pb2.py is what protoc makes of device.proto today (compared by descriptor, not by protoc's banner)."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) regenerates the module")
    from halkit.remote.codegen import generate

    fresh_path = generate(tmp_path)[0]
    spec = importlib.util.spec_from_file_location("fresh_device_pb2", fresh_path)
    # The fresh module registers the same file name in protobuf's default pool: build it in a private one.
    source = fresh_path.read_text().replace("_descriptor_pool.Default()", "_descriptor_pool.DescriptorPool()")
    fresh_path.write_text(source)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    assert fresh.DESCRIPTOR.serialized_pb == pb.DESCRIPTOR.serialized_pb, \
        "halkit/remote/device_pb2.py is stale: run `python -m halkit.remote gen-proto` and commit it"


@pytest.mark.parametrize("value", [None, True, False, 0, -3, 2**62, 1.5, float("inf"), "gelu", (), (1, 2),
                                   ((1, 2), (3, 4)), (None, 2.5, "x"), np.int64(7), np.float32(0.25)])
def test_parameter_values_round_trip(value):
    decoded = wire.decode_value(wire.encode_value(value))
    assert decoded == value and type(decoded) is type(value.item() if isinstance(value, np.generic) else value)


def test_every_default_parameter_of_the_op_set_round_trips():
    for op in opset.OPS.values():
        for name, default in op.params:
            assert wire.decode_value(wire.encode_value(default)) == default, (op.name, name)


def test_unencodable_parameter_is_a_clear_error():
    with pytest.raises(TypeError, match="launch parameter"):
        wire.encode_value({"a": 1})


@pytest.mark.parametrize("spec", [host_spec("cpu"), host_spec("x").replace(
    systolic=SystolicArray(8, 16, "ws", 5e8), link_bandwidth_d2h=3e9, peak_flops={"float32": 1e12})])
def test_device_spec_round_trips(spec: DeviceSpec):
    assert wire.decode_spec(wire.encode_spec(spec)) == spec


def test_errors_keep_their_class_and_context():
    error = wire.decode_error(wire.encode_error(OutOfMemoryError("no room"), "allocate: "))
    assert type(error) is OutOfMemoryError and str(error) == "allocate: OutOfMemoryError: no room"
    assert type(wire.decode_error(wire.encode_error(IndexError("index 7")))) is IndexError
    unknown = wire.decode_error(wire.encode_error(KeyError("k")))
    assert "KeyError" in str(unknown)


def test_frames_concatenate_into_one_batch():
    frames = [wire.frame("ping", pb.Ping(request=1)), wire.copy_in_frame(2, 3, 4, b"abc"),
              wire.frame("free", pb.Free(buffer=3))]
    batch = pb.Batch.FromString(b"".join(frames))
    assert [c.WhichOneof("kind") for c in batch.commands] == ["ping", "copy_in", "free"]
    assert batch.commands[1].copy_in.data == b"abc" and batch.commands[1].copy_in.offset == 4


def test_token_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "token"
    token = wire.write_token(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(token) >= 32
    assert wire.read_token(path) == token
    with pytest.raises(FileExistsError):
        wire.write_token(path)
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        wire.read_token(path)
    empty = tmp_path / "empty"
    empty.touch(mode=0o600)
    with pytest.raises(ValueError, match="empty"):
        wire.read_token(empty)
    with pytest.raises(ValueError, match="cannot read"):
        wire.read_token(tmp_path / "missing")


@pytest.mark.parametrize("text, size", [("1073741824", 1 << 30), ("4GiB", 4 << 30), ("512M", 512 << 20),
                                        ("1.5 KiB", 1536), ("7B", 7)])
def test_max_memory_sizes(text, size):
    from halkit.remote.__main__ import parse_bytes

    assert parse_bytes(text) == size


def test_a_bad_size_is_a_clear_error():
    import argparse

    from halkit.remote.__main__ import parse_bytes

    with pytest.raises(argparse.ArgumentTypeError, match="512MiB"):
        parse_bytes("lots")
