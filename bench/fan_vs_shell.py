#!/usr/bin/env python3
"""`pipekit fanout` and `pipekit fanin` against what a shell user writes instead,
side by side in one run.

  bench/fan_vs_shell.py PIPEKIT [--bytes N] [--rounds R]

Fan-out: N bytes of /dev/zero into 2 consumers (`wc -c`):
  tee       head -c N /dev/zero | tee >(wc -c >/dev/null) | wc -c >/dev/null
  pipekit   head -c N /dev/zero | pipekit fanout 'wc -c' 'wc -c' >/dev/null
  ceiling   head -c N /dev/zero | wc -c >/dev/null   (one consumer, no copy at all)
Fan-in: 8 producers (`cat` of a file of 100-byte lines) merged into `wc -c`:
  shared    { cat f & ... 8 times; wait; } | wc -c   (one shared pipe: tears long lines)
  pipekit   pipekit fanin 'cat f' ... 8 times | wc -c
Rounds alternate the order so load from elsewhere hits all; the table shows
medians and the ratios (higher is better).
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time


def timed(argv):
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{argv}... exited {r.returncode}")
    return elapsed


def bash(script):
    return ["bash", "-c", "set -o pipefail; " + script]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pipekit")
    ap.add_argument("--bytes", type=int, default=2 << 30)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    n = a.bytes
    pk = a.pipekit

    with tempfile.TemporaryDirectory() as tmp:
        lines = os.path.join(tmp, "lines")
        with open(lines, "wb") as f:  # 128 MiB of 100-byte lines, read from the page cache
            f.write((b"x" * 99 + b"\n") * ((128 << 20) // 100))
        fan_in_bytes = 8 * os.path.getsize(lines)

        cases = {
            "tee": bash(f"head -c {n} /dev/zero | tee >(wc -c >/dev/null) | wc -c >/dev/null"),
            "fanout": bash(f"head -c {n} /dev/zero | {pk} fanout 'wc -c' 'wc -c' >/dev/null"),
            "ceiling": bash(f"head -c {n} /dev/zero | wc -c >/dev/null"),
            "shared": bash("{ " + " ".join([f"cat {lines} &"] * 8) + " wait; } | wc -c >/dev/null"),
            "fanin": bash(f"{pk} fanin " + " ".join([f"'cat {lines}'"] * 8) + " | wc -c >/dev/null"),
            # --stats counts the lines: every byte is read once (the output is still spliced)
            "fanin_stats": bash(f"{pk} fanin --stats " + " ".join([f"'cat {lines}'"] * 8) + " 2>/dev/null | wc -c >/dev/null"),
        }
        size = {"tee": n, "fanout": n, "ceiling": n, "shared": fan_in_bytes, "fanin": fan_in_bytes,
                "fanin_stats": fan_in_bytes}
        results = {k: [] for k in cases}
        for r in range(a.rounds):
            order = list(cases.items())
            if r % 2:
                order.reverse()
            for name, argv in order:
                results[name].append(size[name] / timed(argv))

    med = {k: statistics.median(v) for k, v in results.items()}
    gib = 1 << 30
    print(f"fan-out, {n / gib:.1f} GiB into 2 x wc -c (median of {a.rounds}):")
    print(f"  tee >(...)        {med['tee'] / gib:6.2f} GiB/s")
    print(f"  pipekit fanout    {med['fanout'] / gib:6.2f} GiB/s   ratio fanout/tee {med['fanout'] / med['tee']:.2f}")
    print(f"  ceiling (1 wc)    {med['ceiling'] / gib:6.2f} GiB/s   ratio fanout/ceiling {med['fanout'] / med['ceiling']:.2f}")
    print(f"fan-in, 8 producers x {fan_in_bytes / 8 / (1 << 20):.0f} MiB of 100-byte lines into wc -c:")
    print(f"  one shared pipe   {med['shared'] / gib:6.2f} GiB/s")
    print(f"  pipekit fanin     {med['fanin'] / gib:6.2f} GiB/s   ratio fanin/shared {med['fanin'] / med['shared']:.2f}")
    print(f"  ... with --stats  {med['fanin_stats'] / gib:6.2f} GiB/s   ratio {med['fanin_stats'] / med['shared']:.2f}")


if __name__ == "__main__":
    main()
