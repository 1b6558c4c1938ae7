#!/usr/bin/env python3
"""Python's multiprocessing.Pipe measured the way bench/bench_channel.cpp measures pipekit
channels, for the ratio table (bench/ratios.py reads the JSON this writes).

    python3 bench/channel_python.py [--repetitions N] [--out FILE.json]
    python3 bench/channel_python.py send-big BYTES --fd N    (used by bench_channel's crossing)

Benchmarks (same names and parameters as bench_channel.cpp, implementation "python"):
    BM_channel_small/python/transport:T/size:100     100-byte send_bytes/recv_bytes, items/s
    BM_channel_large/python/transport:T/size:1MiB    1 MiB messages, bytes/s
    BM_channel_roundtrip/python/transport:T/cpu:P/size:1   one message there and back, items/s
T is socketpair (Pipe(duplex=True)) or pipe (Pipe(duplex=False); two of them for round trips).
Sender and receiver are two processes (os.fork): two threads of one interpreter would be
serialised by the GIL. The receiver's clock starts at the first message, so process start-up
is not counted. cpu:same pins both processes to one CPU (os.sched_setaffinity).

The output follows Google Benchmark's JSON (one "iteration" entry per repetition plus
"median" and "cv" aggregates). Standard library only.
"""

import json
import os
import statistics
import sys
import time
from multiprocessing import Pipe
from multiprocessing.connection import Connection

SMALL_COUNT = 200_000
LARGE_COUNT = 512
ROUNDTRIP_COUNT = 20_000
MIB = 1 << 20


def _fork(child):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def _reap(pid):
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"child failed: status {status}")


def _one_way(socket):
    """(receiving end, sending end)."""
    return Pipe(True) if socket else Pipe(False)


def stream(socket, size, count):
    """Messages/s and bytes/s of `count` messages of `size` bytes from a child to us."""
    rx, tx = _one_way(socket)
    msg = b"m" * size

    def child():
        rx.close()
        for _ in range(count):
            tx.send_bytes(msg)
        tx.close()

    pid = _fork(child)
    tx.close()
    rx.recv_bytes()
    start = time.perf_counter()
    for _ in range(count - 1):
        rx.recv_bytes()
    elapsed = time.perf_counter() - start
    rx.close()
    _reap(pid)
    return (count - 1) / elapsed, (count - 1) * size / elapsed


def roundtrip(socket, same_cpu, count):
    if socket:
        near, far = Pipe(True)
        near_rx = near_tx = near
        far_rx = far_tx = far
    else:
        far_rx, near_tx = Pipe(False)
        near_rx, far_tx = Pipe(False)
    old = os.sched_getaffinity(0)
    if same_cpu:
        os.sched_setaffinity(0, {min(old)})  # the child inherits it

    def child():
        for c in {id(near_rx): near_rx, id(near_tx): near_tx}.values():
            c.close()  # or our own copy would keep the parent's end open: no end of stream
        while True:
            try:
                m = far_rx.recv_bytes()
            except EOFError:
                return
            far_tx.send_bytes(m)

    try:
        pid = _fork(child)
        for c in {id(far_rx): far_rx, id(far_tx): far_tx}.values():
            c.close()
        ping = b"p"
        near_tx.send_bytes(ping)
        near_rx.recv_bytes()
        start = time.perf_counter()
        for _ in range(count):
            near_tx.send_bytes(ping)
            near_rx.recv_bytes()
        elapsed = time.perf_counter() - start
        for c in {id(near_rx): near_rx, id(near_tx): near_tx}.values():
            c.close()
        _reap(pid)
    finally:
        os.sched_setaffinity(0, old)
    return count / elapsed


def _entries(name, key, samples, unit_time):
    out = []
    for i, v in enumerate(samples):
        out.append({"name": name, "run_name": name, "run_type": "iteration", "repetitions": len(samples),
                    "repetition_index": i, "iterations": 1, "real_time": unit_time(v), "cpu_time": unit_time(v),
                    "time_unit": "ns", key: v})
    med = statistics.median(samples)
    cv = statistics.pstdev(samples) / statistics.mean(samples) if len(samples) > 1 else 0.0
    for agg, v in (("median", med), ("cv", cv)):
        out.append({"name": f"{name}_{agg}", "run_name": name, "run_type": "aggregate", "aggregate_name": agg,
                    "repetitions": len(samples), "iterations": len(samples),
                    "real_time": unit_time(v) if agg != "cv" else v, "time_unit": "ns", key: v})
    return out


def bench(repetitions):
    jobs = []
    for socket in (True, False):
        t = "socketpair" if socket else "pipe"
        jobs.append((f"BM_channel_small/python/transport:{t}/size:100", "items_per_second",
                     lambda s=socket: stream(s, 100, SMALL_COUNT)[0], lambda v: 1e9 / v))
        jobs.append((f"BM_channel_large/python/transport:{t}/size:1MiB", "bytes_per_second",
                     lambda s=socket: stream(s, MIB, LARGE_COUNT)[1], lambda v: 1e9 * MIB / v))
        for same in (True, False):
            p = "same" if same else "free"
            jobs.append((f"BM_channel_roundtrip/python/transport:{t}/cpu:{p}/size:1", "items_per_second",
                         lambda s=socket, c=same: roundtrip(s, c, ROUNDTRIP_COUNT), lambda v: 1e9 / v))
    samples = {name: [] for name, *_ in jobs}
    # Interleave repetitions, as run_benchmarks.sh does for Google Benchmark.
    for _ in range(repetitions):
        for name, _key, run, _unit in jobs:
            samples[name].append(run())
    benchmarks = []
    for name, key, _run, unit in jobs:
        benchmarks += _entries(name, key, samples[name], unit)
        med = statistics.median(samples[name])
        shown = f"{med / MIB:,.0f} MiB/s" if key == "bytes_per_second" else f"{med:,.0f}/s"
        print(f"{name:<60} {shown:>16}  (median of {repetitions})")
    return benchmarks


def send_big(size, fd):
    """One message of `size` bytes through Connection.send_bytes (the -1 + 8-byte header when
    size > 0x7fffffff). Only the marked pages are touched: bytearray() of that size is calloc'd."""
    buf = bytearray(size)
    buf[:16] = bytes(range(ord("A"), ord("A") + 16))
    buf[-1] = ord("Z")
    conn = Connection(fd)
    conn.send_bytes(buf)
    conn.close()


def main(argv):
    if len(argv) >= 2 and argv[1] == "send-big":
        send_big(int(argv[2]), int(argv[argv.index("--fd") + 1]))
        return 0
    repetitions = 5
    out = None
    args = argv[1:]
    while args:
        if args[0] == "--repetitions":
            repetitions = int(args[1])
            args = args[2:]
        elif args[0] == "--out":
            out = args[1]
            args = args[2:]
        else:
            print(__doc__, file=sys.stderr)
            return 2
    benchmarks = bench(repetitions)
    result = {
        "context": {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "executable": "bench/channel_python.py",
                    "python": sys.version.split()[0], "load_avg": list(os.getloadavg())},
        "benchmarks": benchmarks,
    }
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
