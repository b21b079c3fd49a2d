"""Regenerate the protocol module (device_pb2.py) from device.proto.

It is committed, so installing halkit needs no protoc; after editing the .proto run
``python -m halkit.remote gen-proto`` (needs grpcio-tools, a dev dependency). A test regenerates them into a
temporary directory and compares, so a stale module cannot slip through. (No gRPC stubs are generated:
wire.py explains why the RPCs are registered with gRPC's generic handlers.)
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # protoc runs from here so imports read "halkit.remote"
PROTO = "halkit/remote/device.proto"
OUTPUTS = ("halkit/remote/device_pb2.py",)


def generate(out_dir: str | Path = PACKAGE_ROOT) -> list[Path]:
    """Run protoc (from grpcio-tools) on device.proto into ``out_dir`` (default: in place); returns the files written."""
    try:
        from grpc_tools import protoc
    except ImportError:
        raise RuntimeError("regenerating the protocol needs grpcio-tools: pip install grpcio-tools") from None
    import grpc_tools

    includes = Path(grpc_tools.__file__).parent / "_proto"  # protoc's own well-known types
    status = protoc.main(["protoc", f"-I{PACKAGE_ROOT}", f"-I{includes}", f"--python_out={out_dir}",
                          str(PACKAGE_ROOT / PROTO)])
    if status != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit status {status})")
    return [Path(out_dir) / name for name in OUTPUTS]
