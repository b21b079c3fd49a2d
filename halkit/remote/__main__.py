"""``python -m halkit.remote serve|bench|gen-proto`` — see ``--help`` of each."""
from __future__ import annotations

import argparse
import re
import sys

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """'1073741824', '1GiB', '512M' -> bytes (K/M/G/T are powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size in bytes such as 1073741824, 512MiB or 4G, got {text!r}")
    number, unit = float(match.group(1)), (match.group(2) or "B")[0].upper()
    return int(number * 1024 ** "BKMGT".index(unit))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halkit.remote", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a local driver to token-holding clients")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port, printed on start)")
    serve.add_argument("--driver", default="native", help="local HAL driver to serve: native, numpy, mock, ...")
    serve.add_argument("--token-file", help="shared token file (created 0600 if missing; default: a new one in a "
                                            "private temporary directory)")
    serve.add_argument("--max-memory", type=parse_bytes,
                       help="device memory clients may allocate, e.g. 4GiB (default: the driver's; half the free "
                            "RAM for a host-memory driver)")
    serve.add_argument("--max-sessions", type=int, default=16, help="concurrent client sessions (default 16)")
    serve.add_argument("--allow-non-loopback", action="store_true",
                       help="allow --host to be a non-loopback address (unencrypted: the token is the only guard)")
    serve.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process exits")

    bench = commands.add_parser("bench", help="measure the remote device against a raw socket and native")
    bench.add_argument("--driver", default="native", help="driver the benchmark's server runs (default native)")
    bench.add_argument("--max-size", type=parse_bytes, default=1 << 30, help="largest copy (default 1GiB)")
    bench.add_argument("--rounds", type=int, default=5, help="interleaved rounds per figure (median taken)")
    bench.add_argument("--json", help="also write the results to this JSON file")

    commands.add_parser("gen-proto", help="regenerate device_pb2*.py from device.proto (needs grpcio-tools)")
    args = parser.parse_args(argv)

    if args.command == "serve":
        from .server import serve as run

        return run(args.host, args.port, args.driver, args.token_file, args.max_memory, args.allow_non_loopback,
                   args.max_sessions, args.exit_with_parent)
    if args.command == "bench":
        from .bench import main as run_bench

        return run_bench(driver=args.driver, max_size=args.max_size, rounds=args.rounds, json_path=args.json)
    from .codegen import generate

    for path in generate():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
