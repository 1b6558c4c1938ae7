#!/usr/bin/env python3
"""`pipekit pipe` against bash running the same pipeline, side by side in one run.

  bench/pipe_vs_bash.py PIPEKIT [--bytes N] [--rounds R] [--spawns S]

Throughput: `head -c N /dev/zero | cat | cat > /dev/null` under bash with
pipefail, under `pipekit pipe -o /dev/null` and under `pipekit pipe --stats`
(both edges metered by relays); the ceiling is the same
bytes through one edge only (`head -c N /dev/zero | cat > /dev/null`, bash).
Start-up: a pipeline of ten `true`s, started and finished S times by each.
Rounds alternate the tools so that load from elsewhere hits both; the table
shows medians and the ratio pipekit / bash (throughput: higher is better;
start-up: lower is better).
"""
import argparse
import statistics
import subprocess
import time


def timed(argv):
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{argv[:3]}... exited {r.returncode}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pipekit")
    ap.add_argument("--bytes", type=int, default=2 << 30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--spawns", type=int, default=200)
    a = ap.parse_args()

    n = a.bytes
    stages = [f"head -c {n} /dev/zero", "cat", "cat"]
    bash_pipe = ["bash", "-c", "set -o pipefail; " + " | ".join(stages) + " > /dev/null"]
    ceiling = ["bash", "-c", f"set -o pipefail; head -c {n} /dev/zero | cat > /dev/null"]
    ours_pipe = [a.pipekit, "pipe", "-o", "/dev/null", *stages]
    ours_metered = [a.pipekit, "pipe", "--stats", "-o", "/dev/null", *stages]
    trues = ["true"] * 10
    bash_trues = ["bash", "-c", "set -o pipefail; " + " | ".join(trues)]
    ours_trues = [a.pipekit, "pipe", *trues]

    results = {k: [] for k in ("bash", "pipekit", "metered", "ceiling", "bash_start", "pipekit_start")}
    for r in range(a.rounds):
        order = [("bash", bash_pipe), ("pipekit", ours_pipe), ("metered", ours_metered), ("ceiling", ceiling)]
        if r % 2:
            order.reverse()
        for name, argv in order:
            results[name].append(n / timed(argv))
        starts = [("bash_start", bash_trues), ("pipekit_start", ours_trues)]
        if r % 2:
            starts.reverse()
        for name, argv in starts:
            total = sum(timed(argv) for _ in range(a.spawns))
            results[name].append(total / a.spawns)

    med = {k: statistics.median(v) for k, v in results.items()}
    gib = 1 << 30
    print(f"throughput, {n / gib:.1f} GiB through 3 stages (median of {a.rounds}):")
    print(f"  bash pipefail     {med['bash'] / gib:6.2f} GiB/s")
    print(f"  pipekit pipe      {med['pipekit'] / gib:6.2f} GiB/s   ratio pipekit/bash {med['pipekit'] / med['bash']:.2f}")
    print(f"  pipekit --stats   {med['metered'] / gib:6.2f} GiB/s   ratio metered/unmetered {med['metered'] / med['pipekit']:.2f}")
    print(f"  ceiling (1 edge)  {med['ceiling'] / gib:6.2f} GiB/s   ratio pipekit/ceiling {med['pipekit'] / med['ceiling']:.2f}")
    print(f"start and finish 10 x true (median of {a.rounds} rounds of {a.spawns}):")
    print(f"  bash              {med['bash_start'] * 1e3:6.2f} ms")
    print(f"  pipekit pipe      {med['pipekit_start'] * 1e3:6.2f} ms   ratio pipekit/bash {med['pipekit_start'] / med['bash_start']:.2f}")


if __name__ == "__main__":
    main()
