"""What the network costs: ``python -m halkit.remote bench`` and the figures notebook 09 draws.

Every figure comes from one run against a loopback server this code starts, timed by halkit's one timing
loop (:func:`halkit.bench.timing.interleaved`: the candidates alternate within each round, the median over
rounds is reported):

* **empty launch**: one launch of a 1-element ``fill`` and a synchronize — a full round trip through the
  session and a stream of the server; beside it a bare ping (answered by the session's reader: the RPC floor)
  and the same launch on the native driver in this process;
* **pipelined launches** on one stream: launches issued back to back, one synchronize at the end;
* **copy bandwidth** both ways, 1 MiB up to ``max_size``, against a raw TCP socket between two processes on
  the same loopback (``sendall`` / ``recv_into`` on buffers allocated once: the most this link carries),
  timed in the same rounds;
* **the MLP** 64×512 → 512 → 512 → 10 forward: on the remote device with its weights resident, uploading
  its weights on every call, and on the native driver in this process; and HALLinear (torch) under
  ``hal.use("remote")``: its weights stay resident, its activations return to the host between layers.
"""
from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time

import numpy as np

from halkit import hal

MIB = 1 << 20
MLP_SIZES = (512, 512, 512, 10)
MLP_BATCH = 64


# --- the raw socket: the physical limit of the loopback link ------------------------------------------

def _socket_peer(capacity: int) -> None:
    """The other end of the raw socket (run in a child process): sinks or sources ``n`` bytes on request."""
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = memoryview(bytearray(capacity))
    while header := conn.recv(9, socket.MSG_WAITALL):
        kind, n = header[:1], int.from_bytes(header[1:], "little")
        if kind == b"u":  # the client uploads n bytes; acknowledge when all are in
            got = 0
            while got < n:
                got += conn.recv_into(buffer[got:n])
            conn.sendall(b"k")
        else:
            conn.sendall(buffer[:n])


class RawLink:
    """A TCP connection to a peer process on loopback: ``upload(n)`` / ``download(n)`` move n bytes, no framing."""

    def __init__(self, capacity: int):
        self.peer = subprocess.Popen([sys.executable, "-c", f"from halkit.remote.bench import _socket_peer; "
                                      f"_socket_peer({capacity})"], stdout=subprocess.PIPE, text=True)
        port = int(self.peer.stdout.readline())
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = memoryview(bytearray(capacity))

    def upload(self, n: int) -> None:
        self.sock.sendall(b"u" + n.to_bytes(8, "little"))
        self.sock.sendall(self.buffer[:n])
        self.sock.recv(1, socket.MSG_WAITALL)

    def download(self, n: int) -> None:
        self.sock.sendall(b"d" + n.to_bytes(8, "little"))
        got = 0
        while got < n:
            got += self.sock.recv_into(self.buffer[got:n])

    def close(self) -> None:
        self.sock.close()
        self.peer.wait(10)


# --- the measurements ----------------------------------------------------------------------------------

def _sampler(fn, driver=None):
    """A halkit.bench.timing sampler: ``fn`` n times, then wait for ``driver`` (inside the timed region)."""
    def sample(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if driver is not None:
            driver.synchronize()
        return time.perf_counter() - start
    return sample


def launch_figures(driver, rounds: int = 9, min_time: float = 0.2) -> dict:
    """Empty-launch round trip, bare ping, native in-process launch (seconds each), pipelined launches/s."""
    from halkit.bench.timing import interleaved

    native = hal.get_backend("native")
    params = dict(shape=(1,), dtype="float32", value=0.0)
    remote_out, native_out = hal.empty((1,), np.float32, driver), hal.empty((1,), np.float32, native)
    stream = driver.default_stream

    def launch_and_wait():
        driver.launch("fill", [remote_out], [], params, stream)
        driver.synchronize(stream)
    timings = interleaved({
        "ping": _sampler(driver.ping),
        "empty launch + synchronize": _sampler(launch_and_wait),
        "pipelined launch": _sampler(lambda: driver.launch("fill", [remote_out], [], params, stream), driver),
        "native launch (in process)": _sampler(lambda: native.launch("fill", [native_out], [], params,
                                                                     native.default_stream)),
    }, rounds=rounds, min_time=min_time)
    return {name: t.median for name, t in timings.items()} | {
        "pipelined launches/s": 1 / timings["pipelined launch"].median,
        "noisy": sorted(name for name, t in timings.items() if t.noisy)}


def copy_figures(driver, sizes, rounds: int = 5, min_time: float = 0.1) -> list[dict]:
    """Per size: GB/s host→device and device→host on the remote device and on the raw socket."""
    from halkit.bench.timing import interleaved

    link, stream, rows = RawLink(max(sizes)), driver.default_stream, []
    try:
        for size in sizes:
            host = np.ones(size, np.uint8)
            device = hal.empty((size,), np.uint8, driver)
            timings = interleaved({
                "socket up": _sampler(lambda: link.upload(size)),
                "remote h2d": _sampler(lambda: driver.copy_in(device, host, stream), driver),
                "socket down": _sampler(lambda: link.download(size)),
                "remote d2h": _sampler(lambda: driver.copy_out(host, device, stream), driver),
            }, rounds=rounds, min_time=min_time, warmup=0.0)
            rows.append({"bytes": size} | {f"{name} GB/s": size / t.median / 1e9 for name, t in timings.items()}
                        | {"noisy": sorted(name for name, t in timings.items() if t.noisy)})
            del device
    finally:
        link.close()
    return rows


def mlp_parameters(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(weight, bias)] of the 512→512→512→10 HALLinear MLP (torch's initialisation, via halkit.training)."""
    from torch import nn

    from halkit.training import make_mlp

    model = make_mlp("native", sizes=MLP_SIZES, seed=seed)
    return [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in model
            if isinstance(m, nn.Linear)]


def mlp_forward(x, layers):
    """relu(linear) for every layer but the last — NumPy arrays or DeviceArrays alike."""
    for i, (w, b) in enumerate(layers):
        x = hal.linear(x, w, b, activation="relu" if i < len(layers) - 1 else None)
    return x


def mlp_figures(driver, rounds: int = 9, min_time: float = 0.2) -> dict:
    """Seconds per MLP forward, every variant checked against the native result first."""
    import torch

    from halkit.bench.timing import interleaved
    from halkit.training import make_mlp

    layers = mlp_parameters()
    x = np.random.default_rng(1).standard_normal((MLP_BATCH, MLP_SIZES[0])).astype(np.float32)
    resident = [(hal.to_device(w, driver), hal.to_device(b, driver)) for w, b in layers]
    model = make_mlp("native", sizes=MLP_SIZES, seed=0)
    xt = torch.from_numpy(x)

    def native():
        with hal.use("native"):
            return mlp_forward(x, layers)

    def remote_resident():
        return mlp_forward(hal.to_device(x, driver), resident).numpy()

    def remote_upload():
        return mlp_forward(hal.to_device(x, driver), [(hal.to_device(w, driver), hal.to_device(b, driver))
                                                      for w, b in layers]).numpy()

    def hallinear(name):
        def forward():
            with hal.use(name), torch.inference_mode():
                return model(xt).numpy()
        return forward
    candidates = {"remote, resident weights": remote_resident, "remote, weights uploaded per call": remote_upload,
                  "native in process": native, "HALLinear on remote (torch layer)": hallinear(driver.name),
                  "HALLinear native (torch layer)": hallinear("native")}
    expected = native()
    for name, forward in candidates.items():
        np.testing.assert_allclose(forward(), expected, rtol=1e-4, atol=1e-5, err_msg=name)
    timings = interleaved({name: _sampler(f) for name, f in candidates.items()}, rounds=rounds, min_time=min_time)
    return {name: t.median for name, t in timings.items()} | {
        "noisy": sorted(name for name, t in timings.items() if t.noisy)}


def op_breakdown(driver, ops=None, repeats: int = 20) -> list[dict]:
    """Per op as ``hal.use("remote")`` runs it (host arrays in, a host array out): the median total split into
    kernel (timed on the server), transfer (the same copies without the launch, less a bare round trip) and
    RPC overhead (the rest: the round trip, serialisation, thread hand-offs). The three are timed in turn,
    repeat by repeat, so a busy moment hits them alike."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((64, 512), (512, 512), (512,)))
    ops = ops or {"relu 64×512": (hal.relu, (x,)), "softmax 64×512": (hal.softmax, (x,)),
                  "layer_norm 64×512": (hal.layer_norm, (x,)), "linear 64×512·512²": (hal.linear, (x, w, b)),
                  "matmul 512³": (hal.matmul, (w, w))}
    stream, rows = driver.default_stream, []

    def copies_only(args, out):
        for a in args:
            hal.to_device(a, driver)
        host = np.empty(out.shape, out.dtype)
        driver.copy_out(host, hal.empty(out.shape, out.dtype, driver), stream)
        driver.synchronize(stream)

    with hal.use(driver.name):
        for name, (fn, args) in ops.items():
            out = fn(*args)
            totals, kernels, copies, pings = [], [], [], []
            for _ in range(repeats):
                start = time.perf_counter()
                fn(*args)
                totals.append(time.perf_counter() - start)
                kernels.append(driver.last_kernel_s)
                start = time.perf_counter()
                copies_only(args, out)
                copies.append(time.perf_counter() - start)
                pings.append(driver.ping())
            total, kernel = statistics.median(totals), statistics.median(kernels)
            transfer = max(0.0, statistics.median(copies) - statistics.median(pings))
            rows.append({"op": name, "total_s": total, "kernel_s": kernel, "transfer_s": transfer,
                         "overhead_s": max(0.0, total - kernel - transfer), "bytes": sum(a.nbytes for a in args)
                         + out.nbytes})
    return rows


# --- the command -----------------------------------------------------------------------------------------

def _sizes(max_size: int) -> list[int]:
    sizes, size = [], MIB
    while size <= max_size:
        sizes.append(size)
        size *= 4
    return sizes


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:10.1f} µs"


def main(driver: str = "native", max_size: int = 1 << 30, rounds: int = 5, json_path: str | None = None) -> int:
    from halkit.bench.load import LoadMonitor
    from halkit.bench.machine import describe

    from . import connect, start_server

    sizes = _sizes(max_size)
    monitor = LoadMonitor()
    print(f"# machine: {describe()}")
    print(f"# server: python -m halkit.remote serve --driver {driver} on loopback; figures: median of {rounds} "
          "interleaved rounds")
    with start_server(driver, max_memory=max(sizes) + 256 * MIB) as server:
        remote = connect(server.address, server.token_file)
        try:
            print(f"# link measured at connect: {remote.capabilities().cost.describe(compact=True)}")
            with monitor.track():
                launches = launch_figures(remote, rounds=max(rounds, 3))
                copies = copy_figures(remote, sizes, rounds=rounds)
                mlp = mlp_figures(remote, rounds=max(rounds, 3))
                breakdown = op_breakdown(remote)
        finally:
            hal.register_backend("remote", "halkit.remote.driver:RemoteDriver")  # closes the connection
    load = monitor.summary()
    print(f"# machine load: {load['text']} (the server process counts as another process)")
    print("\nlaunches")
    for name in ("ping", "empty launch + synchronize", "pipelined launch", "native launch (in process)"):
        print(f"  {name:<30}{_us(launches[name])}")
    print(f"  {'pipelined launches/s':<30}{launches['pipelined launches/s']:13,.0f}")
    print("\ncopies (GB/s)            remote h2d  socket up   ratio  remote d2h  socket down  ratio")
    for row in copies:
        up, down = row["remote h2d GB/s"], row["remote d2h GB/s"]
        print(f"  {row['bytes'] // MIB:>6} MiB             {up:8.3f}  {row['socket up GB/s']:9.3f}  "
              f"{up / row['socket up GB/s']:6.2f}  {down:10.3f}  {row['socket down GB/s']:11.3f}  "
              f"{down / row['socket down GB/s']:5.2f}" + ("  noisy" if row["noisy"] else ""))
    print(f"\nMLP {MLP_BATCH}×{'→'.join(map(str, MLP_SIZES))} forward")
    base = mlp["native in process"]
    for name in [k for k in mlp if k != "noisy"]:
        print(f"  {name:<36}{_us(mlp[name])}  {mlp[name] / base:7.1f}× native" + (
            "  noisy" if name in mlp["noisy"] else ""))
    print("\nper-op latency on remote (host arrays in and out)")
    for row in breakdown:
        print(f"  {row['op']:<22} total {_us(row['total_s'])} = kernel {_us(row['kernel_s'])} + transfer "
              f"{_us(row['transfer_s'])} + RPC overhead {_us(row['overhead_s'])}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"machine": describe(), "load": load, "driver": driver, "launches": launches,
                       "copies": copies, "mlp": mlp, "breakdown": breakdown}, f, indent=1)
        print(f"\nwrote {json_path}")
    return 0
